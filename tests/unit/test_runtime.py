"""Configuration and the error table of the shared runtime."""

from pathlib import Path

import grpc

from hangu_runtime.config import load_settings
from hangu_runtime.errors import Conflict, NotFound, from_rpc_error, http_status


def test_env_moves_every_path(tmp_path: Path) -> None:
    s = load_settings({"HANGU_ROOT": str(tmp_path / "r"), "HANGU_RUN": str(tmp_path / "x")})
    assert s.docker_socket == tmp_path / "x" / "hangu.sock"
    assert s.grpc_socket("image") == tmp_path / "x" / "grpc" / "image.sock"
    assert s.data_dir("volume") == tmp_path / "r" / "volume"


def test_toml_then_env(tmp_path: Path) -> None:
    cfg = tmp_path / "hangu.toml"
    cfg.write_text('bridge = "hg7"\ninsecure-registries = ["reg:5000"]\nroot = "/a"\n')
    s = load_settings({"HANGU_CONFIG": str(cfg), "HANGU_ROOT": "/b"})
    assert s.bridge == "hg7"
    assert s.insecure_registries == ("reg:5000",)
    assert s.root == Path("/b")


def test_conflicts_map_to_409() -> None:
    assert http_status(Conflict.code) == 409
    assert http_status(grpc.StatusCode.ALREADY_EXISTS) == 409
    assert http_status(NotFound.code) == 404
    assert http_status(grpc.StatusCode.DATA_LOSS) == 500


def test_rpc_error_round_trip() -> None:
    class Err(grpc.RpcError):
        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.NOT_FOUND

        def details(self) -> str:
            return "No such container: x"

    err = from_rpc_error(Err())
    assert isinstance(err, NotFound) and err.message == "No such container: x"


def test_open_files_soft_limit_is_raised_to_the_hard_one() -> None:
    """In a child process: its soft limit lowered first, then raised to the
    hard limit, never above it."""
    import subprocess
    import sys

    code = (
        "import resource\n"
        "from hangu_runtime.server import raise_open_files_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
        "got = raise_open_files_limit()\n"
        "want = 256 if hard == resource.RLIM_INFINITY else hard  # unlimited: left as it is\n"
        "assert resource.getrlimit(resource.RLIMIT_NOFILE) == (want, hard), got\n"
        "assert raise_open_files_limit() == want\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
