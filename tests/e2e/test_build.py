"""Issue 8: `docker build` through the gateway, driven by the real docker CLI
(28.x without buildx posts to the classic /build API) and docker-py, on the
session's e2e stack. Each test builds in a context folder of its own and
checks what dockerd's classic builder would print and make."""

from __future__ import annotations

import gzip
import io
import ipaddress
import json
import re
import secrets
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.compose import Compose, compose_missing
from tests.support.dockercli import requires_docker_cli
from tests.support.registry import running_registry
from tests.support.stack import DOCKER, Stack

pytestmark = requires_docker_cli("20.10")

_NOISE = ("DEPRECATED:", "Install the buildx", "https://docs.docker.com/go/buildx", "Sending build")


def _lines(output: str) -> list[str]:
    return [
        line
        for line in output.splitlines()
        if line.strip() and not any(line.strip().startswith(n) for n in _NOISE)
    ]


def _ids(text: str) -> list[str]:
    return re.findall(r"[0-9a-f]{12}", text)


def _shape(lines: list[str]) -> list[str]:
    """Build output with ids made generic, so whole transcripts compare."""
    return [re.sub(r"\b[0-9a-f]{12}\b", "<id>", line) for line in lines]


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return str(result.stdout)


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    folder = tmp_path / "ctx"
    folder.mkdir()
    return folder


@pytest.fixture
def tag(stack: Stack) -> Iterator[str]:
    name = f"hgbuild{secrets.token_hex(3)}:t"
    yield name
    stack.run_docker("rmi", "-f", name)


def _write(ctx: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = ctx / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _build(stack: Stack, ctx: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return stack.run_docker("build", *args, str(ctx), timeout=300)


def _build_containers(stack: Stack) -> list[str]:
    out = _ok(stack.run_docker("ps", "-aq", "--no-trunc"))
    return out.split()


def _build_mounts(stack: Stack) -> list[str]:
    with open("/proc/self/mountinfo") as fh:
        return [line for line in fh if str(stack.root) in line and "/rootfs/build-" in line]


# --------------------------------------------------------------------- output


def test_a_build_prints_what_dockerd_prints_and_makes_the_image(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    _write(
        ctx,
        {
            "Dockerfile": "FROM busybox\nENV A=1\nRUN echo hello && echo err >&2\n"
            'COPY f /f\nLABEL x=y\nCMD ["sh"]\n',
            "f": "hi\n",
        },
    )
    before = set(_build_containers(stack))
    result = _build(stack, ctx, "-t", tag)
    out = _ok(result)
    lines = _lines(out + result.stderr)
    assert _shape(lines) == [
        "Step 1/6 : FROM busybox",
        " ---> <id>",
        "Step 2/6 : ENV A=1",
        " ---> <id>",
        "Step 3/6 : RUN echo hello && echo err >&2",
        " ---> Running in <id>",
        "hello",
        "\x1b[91merr",
        "\x1b[0m ---> Removed intermediate container <id>",
        " ---> <id>",
        "Step 4/6 : COPY f /f",
        " ---> <id>",
        "Step 5/6 : LABEL x=y",
        " ---> <id>",
        'Step 6/6 : CMD ["sh"]',
        " ---> <id>",
        "Successfully built <id>",
        f"Successfully tagged {tag}",
    ]
    final = _ids(lines[-2])[0]
    assert _ok(stack.run_docker("inspect", "-f", "{{.Id}}", tag)).strip()[7:19] == final
    assert _ok(stack.run_docker("run", "--rm", tag, "sh", "-c", "cat /f; echo $A")) == "hi\n1\n"
    config = json.loads(_ok(stack.run_docker("inspect", tag)))[0]["Config"]
    assert config["Labels"] == {"x": "y"}
    assert config["Cmd"] == ["sh"]
    history = _ok(stack.run_docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag))
    created_by = history.splitlines()
    assert created_by[0] == '/bin/sh -c #(nop)  CMD ["sh"]'
    assert created_by[1] == "/bin/sh -c #(nop)  LABEL x=y"
    # the context's file as dockerd sums it (tarsum of name, mode, content)
    assert created_by[2] == (
        "/bin/sh -c #(nop) COPY file:"
        "8582af4daeaf0680f84231b3cb3c1b3f178576b5a6a8982837583d5676f28428 in /f "
    )
    assert created_by[3] == "/bin/sh -c echo hello && echo err >&2"
    assert created_by[4] == "/bin/sh -c #(nop)  ENV A=1"
    # the RUN container went; nothing of the build is left mounted
    assert set(_build_containers(stack)) == before
    assert _build_mounts(stack) == []


def test_quiet_prints_only_the_image_id(stack: Stack, busybox: str, ctx: Path, tag: str) -> None:
    _write(ctx, {"Dockerfile": "FROM busybox\nRUN echo quiet\n"})
    out = _ok(_build(stack, ctx, "-q", "-t", tag))
    assert re.fullmatch(r"sha256:[0-9a-f]{64}\n", out)
    assert _ok(stack.run_docker("inspect", "-f", "{{.Id}}", tag)).strip() == out.strip()


# ---------------------------------------------------------------------- cache


def test_the_cache_rebuilds_only_from_the_changed_step(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    _write(
        ctx,
        {
            "Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY a /a\n"
            "RUN cat /a > /copy\nCOPY b /b\nENV Z=1\n",
            "a": "a1\n",
            "b": "b1\n",
        },
    )
    first = _lines(_ok(_build(stack, ctx, "-t", tag)))
    again = _lines(_ok(_build(stack, ctx, "-t", tag)))
    assert sum(line == " ---> Using cache" for line in again) == 5
    assert not any("Running in" in line for line in again)
    assert again[-2] == first[-2]  # the same image
    # mtimes are not part of the key: touching a source keeps the cache
    (ctx / "b").write_text("b1\n")
    assert sum(line == " ---> Using cache" for line in _lines(_ok(_build(stack, ctx)))) == 5
    # a changed COPY source rebuilds that step and everything after it
    (ctx / "b").write_text("b2\n")
    changed = _lines(_ok(_build(stack, ctx, "-t", tag)))
    steps = [i for i, line in enumerate(changed) if line.startswith("Step ")]
    cached_steps = [
        changed[s].split(" : ")[1]
        for s in steps
        if s + 1 < len(changed) and changed[s + 1] == " ---> Using cache"
    ]
    assert cached_steps == ["RUN echo one > /one", "COPY a /a", "RUN cat /a > /copy"]
    assert _ok(stack.run_docker("run", "--rm", tag, "cat", "/b", "/copy")) == "b2\na1\n"
    nocache = _lines(_ok(_build(stack, ctx, "--no-cache", "-t", tag)))
    assert " ---> Using cache" not in nocache
    assert sum("Running in" in line for line in nocache) == 2


# ------------------------------------------------------------------- language


def test_multi_stage_args_target_labels_and_onbuild(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    _write(
        ctx,
        {
            "Dockerfile": "ARG BASE=busybox\nFROM ${BASE} AS first\nARG V=1\n"
            'RUN echo "v=$V" > /v\nONBUILD RUN echo triggered > /trig\n'
            "FROM scratch AS second\nCOPY --from=first /v /v\nCOPY sub /sub/\n"
            "FROM first\nCOPY --from=second /v /v2\nRUN cat /v /v2 /trig\n",
            "sub/b.txt": "two\n",
        },
    )
    result = _build(
        stack, ctx, "--build-arg", "V=7", "--build-arg", "UNUSED=1", "--label", "lab=1", "-t", tag
    )
    lines = _lines(_ok(result))
    assert lines[:2] == ["Step 1/12 : ARG BASE=busybox", "Step 2/12 : FROM ${BASE} AS first"]
    scratch = lines.index("Step 6/12 : FROM scratch AS second")
    assert lines[scratch + 1] == " ---> "
    onbuild = lines.index("Step 9/12 : FROM first")
    assert lines[onbuild + 1] == "# Executing 1 build trigger"
    assert lines.count("v=7") == 2 and "triggered" in lines
    assert "Step 12/12 : LABEL lab=1" in lines
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in lines
    labels = json.loads(_ok(stack.run_docker("inspect", "-f", "{{json .Config.Labels}}", tag)))
    assert labels == {"lab": "1"}
    # --target stops at the stage; the scratch stage has only what it copied
    target = f"{tag}-second"
    try:
        image_id = _ok(_build(stack, ctx, "-q", "--target", "second", "-t", target)).strip()
        layers = json.loads(
            _ok(stack.run_docker("inspect", "-f", "{{json .RootFS.Layers}}", image_id))
        )
        assert len(layers) == 2
        saved = _ok_bytes(stack.run_docker("save", target, input=b""))
        assert saved
    finally:
        stack.run_docker("rmi", target)
    missing = _build(stack, ctx, "--target", "nosuch")
    assert missing.returncode == 1
    assert "failed to reach build target nosuch in Dockerfile" in missing.stderr


def _ok_bytes(result: subprocess.CompletedProcess[bytes]) -> bytes:
    assert result.returncode == 0, result.stderr
    return bytes(result.stdout)


def test_every_metadata_instruction_reaches_the_config(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    _write(
        ctx,
        {
            "Dockerfile": 'FROM busybox\nENV A=1 B="two words"\nENV C $A-x\n'
            'LABEL "k k"="v v" other=$C\nEXPOSE 80 53/udp 8000-8001\nUSER 1000:1000\n'
            "WORKDIR /app\nWORKDIR sub\nVOLUME /data\nSTOPSIGNAL SIGINT\n"
            "HEALTHCHECK --interval=5s --timeout=3s --retries=2 CMD echo ok\n"
            'SHELL ["/bin/sh", "-xc"]\nENTRYPOINT ["/bin/echo", "x"]\nCMD echo hi\n'
            "MAINTAINER someone\n",
        },
    )
    _ok(_build(stack, ctx, "-t", tag))
    image = json.loads(_ok(stack.run_docker("inspect", tag)))[0]
    cfg = image["Config"]
    assert cfg["Env"][-3:] == ["A=1", "B=two words", "C=1-x"]
    assert cfg["Labels"] == {"k k": "v v", "other": "1-x"}
    assert cfg["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert cfg["User"] == "1000:1000"
    assert cfg["WorkingDir"] == "/app/sub"
    assert cfg["Volumes"] == {"/data": {}}
    assert cfg["StopSignal"] == "SIGINT"
    assert cfg["Healthcheck"] == {
        "Test": ["CMD-SHELL", "echo ok"],
        "Interval": 5_000_000_000,
        "Timeout": 3_000_000_000,
        "Retries": 2,
    }
    assert cfg["Shell"] == ["/bin/sh", "-xc"]
    assert cfg["Entrypoint"] == ["/bin/echo", "x"]
    assert cfg["Cmd"] == ["/bin/sh", "-xc", "echo hi"]
    assert image["Author"] == "someone"
    # WORKDIR made the folder (owned by root, as the classic builder does)
    out = _ok(
        stack.run_docker("run", "--rm", "--entrypoint", "stat", tag, "-c", "%u %F", "/app/sub")
    )
    assert out == "0 directory\n"


def test_dockerfile_from_stdin_outside_the_context_and_nested(
    stack: Stack, busybox: str, ctx: Path, tag: str, tmp_path: Path
) -> None:
    _write(ctx, {"f": "ctx\n", "nested/dir/Build.df": "FROM busybox\nCOPY f /nested\n"})
    # -f is relative to the working directory, as the CLI reads it
    _ok(_build(stack, ctx, "-f", str(ctx / "nested/dir/Build.df"), "-t", tag))
    assert _ok(stack.run_docker("run", "--rm", tag, "cat", "/nested")) == "ctx\n"
    outside = tmp_path / "Outside.df"
    outside.write_text("FROM busybox\nCOPY f /outside\n")
    _ok(_build(stack, ctx, "-f", str(outside), "-t", tag))
    assert _ok(stack.run_docker("run", "--rm", tag, "cat", "/outside")) == "ctx\n"
    result = stack.run_docker(
        "build", "-f", "-", "-t", tag, str(ctx), input="FROM busybox\nCOPY f /stdin\n"
    )
    _ok(result)
    assert _ok(stack.run_docker("run", "--rm", tag, "cat", "/stdin")) == "ctx\n"


def test_dockerignore_keeps_files_out_and_the_cache_intact(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    _write(
        ctx,
        {
            "Dockerfile": "FROM busybox\nCOPY . /app/\nRUN ls -A /app > /listing\n",
            ".dockerignore": "*.log\nsecret/\n!keep.log\nDockerfile\n.dockerignore\n",
            "a.txt": "a\n",
            "debug.log": "x\n",
            "keep.log": "k\n",
            "secret/key": "s\n",
        },
    )
    _ok(_build(stack, ctx, "-t", tag))
    listing = _ok(stack.run_docker("run", "--rm", tag, "cat", "/listing")).split()
    assert sorted(listing) == ["a.txt", "keep.log"]
    (ctx / "debug.log").write_text("changed\n")
    (ctx / "secret" / "key").write_text("changed\n")
    again = _lines(_ok(_build(stack, ctx, "-t", tag)))
    assert again.count(" ---> Using cache") == 2


def test_copy_from_an_image_and_add_of_a_local_tar(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"inside the tar\n"
        info = tarfile.TarInfo("pkg/readme")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    (ctx / "pkg.tar.gz").write_bytes(gzip.compress(buf.getvalue()))
    _write(
        ctx,
        {
            "Dockerfile": "FROM busybox\nCOPY --from=busybox /bin/busybox /copied-busybox\n"
            "ADD pkg.tar.gz /opt/\nCOPY pkg.tar.gz /raw/\n"
            "COPY --chown=1234:2345 f /owned\n",
            "f": "f\n",
        },
    )
    _ok(_build(stack, ctx, "-t", tag))
    out = _ok(
        stack.run_docker(
            "run",
            "--rm",
            tag,
            "sh",
            "-c",
            "cat /opt/pkg/readme; ls /raw; stat -c '%u:%g' /owned; "
            "test -x /copied-busybox && echo x",
        )
    )
    assert out == "inside the tar\npkg.tar.gz\n1234:2345\nx\n"


# ------------------------------------------------------------------- failures


def test_a_failing_run_reports_dockers_error_and_leaves_nothing(
    stack: Stack, busybox: str, ctx: Path
) -> None:
    _write(ctx, {"Dockerfile": "FROM busybox\nRUN echo before\nRUN exit 3\nRUN echo never\n"})
    before = set(_build_containers(stack))
    result = _build(stack, ctx)
    assert result.returncode == 3
    assert "The command '/bin/sh -c exit 3' returned a non-zero code: 3" in result.stderr
    assert "never" not in result.stdout
    assert set(_build_containers(stack)) == before
    assert _build_mounts(stack) == []
    _write(ctx, {"Dockerfile": 'FROM busybox\nRUN ["false"]\n'})
    quiet = _build(stack, ctx, "-q")
    assert quiet.returncode == 1
    assert "The command 'false' returned a non-zero code: 1" in quiet.stderr


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM busybox\nFOO bar\n", "unknown instruction: FOO"),
        ("", "the Dockerfile (Dockerfile) cannot be empty"),
        ("RUN true\n", "no build stage in current context"),
    ],
)
def test_bad_dockerfiles_are_refused_before_any_step(
    stack: Stack, busybox: str, ctx: Path, dockerfile: str, message: str
) -> None:
    _write(ctx, {"Dockerfile": dockerfile})
    result = _build(stack, ctx)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Step 1" not in result.stdout


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM busybox\nCOPY nothere /x\n", "COPY failed: file not found in build context"),
        ("FROM busybox\nCOPY ../outside /x\n", "forbidden path outside the build context"),
        ("FROM busybox\nCOPY *.nomatch /x/\n", "COPY failed: no source files were specified"),
        ("FROM nosuch-hangu-image:1\n", "nosuch-hangu-image"),
        ("ARG BASE\nFROM ${BASE}\n", "base name (${BASE}) should not be blank"),
        ("FROM busybox\nCOPY --from=nostage /x /x\n", "invalid from flag value nostage"),
    ],
)
def test_step_failures_come_in_the_stream(
    stack: Stack, busybox: str, ctx: Path, dockerfile: str, message: str
) -> None:
    _write(ctx, {"Dockerfile": dockerfile})
    result = _build(stack, ctx)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Step 1/" in result.stdout
    assert _build_mounts(stack) == []


def test_options_dockerd_refuses_are_refused(stack: Stack, busybox: str, ctx: Path) -> None:
    _write(ctx, {"Dockerfile": "FROM busybox\n"})
    client = stack.docker_client()
    with pytest.raises(Exception, match="squash is only supported with experimental mode"):
        client.images.build(path=str(ctx), squash=True)
    with pytest.raises(Exception, match='unsupported isolation: "hyperv"'):
        client.images.build(path=str(ctx), isolation="hyperv")
    image, _ = client.images.build(path=str(ctx), isolation="default", platform="linux/amd64")
    assert image.attrs["Architecture"] == "amd64"


# ------------------------------------------------------------------ docker-py


def test_docker_py_build_with_its_options(stack: Stack, busybox: str, ctx: Path, tag: str) -> None:
    _write(
        ctx,
        {
            "Dockerfile": "FROM busybox AS base\nARG GREETING=hi\n"
            'RUN echo "$GREETING" > /greeting && grep -c myhost /etc/hosts > /hosts '
            "&& df -k /dev/shm | tail -1 | awk '{print $2}' > /shm\n"
            "FROM base AS final\nRUN ip -o link | wc -l > /links\n"
            "FROM busybox AS unused\nRUN false\n",
            ".dockerignore": "ignored\n",
            "ignored": "x",
        },
    )
    client = stack.docker_client()
    image, logs = client.images.build(
        path=str(ctx),
        tag=tag,
        buildargs={"GREETING": "hello"},
        labels={"built.by": "docker-py"},
        target="final",
        network_mode="none",
        extra_hosts={"myhost": "10.1.2.3"},
        shmsize=32 * 1024 * 1024,
        gzip=True,
    )
    logs = list(logs)
    log_text = "".join(chunk.get("stream", "") for chunk in logs)
    assert "Successfully built" in log_text
    assert image.labels == {"built.by": "docker-py"}
    out = client.containers.run(image.id, "cat /greeting /hosts /shm /links", remove=True)
    assert out.decode().split() == ["hello", "1", "32768", "1"]
    assert any("aux" in chunk for chunk in logs)


# ------------------------------------------------------------- cancellation


def _start_build(stack: Stack, ctx: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [DOCKER, "build", str(ctx)],
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "Running in" in line:
            return proc
    proc.kill()
    raise AssertionError("the RUN step never started")


def _until(check: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def test_a_client_that_leaves_cancels_the_build(stack: Stack, busybox: str, ctx: Path) -> None:
    _write(ctx, {"Dockerfile": "FROM busybox\nCOPY f /f\nRUN sleep 60\n", "f": "f"})
    before = set(_build_containers(stack))
    proc = _start_build(stack, ctx)
    assert len(set(_build_containers(stack)) - before) == 1
    proc.kill()
    proc.wait()
    assert _until(lambda: set(_build_containers(stack)) == before)
    assert _build_mounts(stack) == []


def test_a_build_killed_with_the_image_service_leaves_nothing(
    stack: Stack, busybox: str, ctx: Path
) -> None:
    _write(ctx, {"Dockerfile": "FROM busybox\nRUN sleep 60\n"})
    before = set(_build_containers(stack))
    proc = _start_build(stack, ctx)
    try:
        stack.kill_service("image")
        proc.wait(timeout=30)
        assert proc.returncode != 0
    finally:
        proc.kill()
    assert _until(lambda: set(_build_containers(stack)) == before, timeout=60)
    assert _build_mounts(stack) == []
    work = stack.root / "image" / "build"
    assert list(work.iterdir()) == []


def test_cache_from_an_image_that_was_never_built_here(
    stack: Stack, busybox: str, ctx: Path, tag: str, tmp_path: Path
) -> None:
    _write(
        ctx,
        {
            "Dockerfile": 'FROM busybox\nENV A=1\nRUN echo one > /one\nCOPY f /f\nCMD ["sh"]\n',
            "f": "f\n",
        },
    )
    built = _ok(_build(stack, ctx, "-q", "-t", tag)).strip()
    archive = tmp_path / "img.tar"
    _ok(stack.run_docker("save", "-o", str(archive), tag))
    # forget the image and its chain of intermediates, then bring back only it
    _ok(stack.run_docker("rmi", tag))
    _ok(stack.run_docker("load", "-i", str(archive)))
    # the loaded image's config names a parent that no longer exists here
    plain = _lines(_ok(_build(stack, ctx, "--no-cache")))
    assert " ---> Using cache" not in plain
    lines = _lines(_ok(_build(stack, ctx, "--cache-from", tag, "-t", tag)))
    assert lines.count(" ---> Using cache") == 4
    assert lines[-2] == f"Successfully built {built[7:19]}"
    assert _ok(stack.run_docker("inspect", "-f", "{{.Id}}", tag)).strip() == built
    # an unknown --cache-from image is skipped, as dockerd skips it
    _ok(_build(stack, ctx, "--cache-from", "nosuch-cache:1"))


# --------------------------------------------------------------- registries


def test_from_pulls_with_the_credentials_the_cli_sends(
    stack: Stack, busybox: str, busybox_oci_layout: Path, ctx: Path, tmp_path: Path
) -> None:
    with running_registry(credentials=("builder", "s3cret")) as reg:
        reg.push(busybox_oci_layout, "private/busybox")
        base = f"{reg.host}/private/busybox"
        _write(ctx, {"Dockerfile": f"FROM {base}\nRUN echo pulled > /p\n"})
        config = tmp_path / "docker-config"
        config.mkdir()
        env_cli = ["--config", str(config)]
        denied = stack.run_docker(*env_cli, "build", str(ctx), timeout=120)
        assert denied.returncode != 0
        assert "Step 1/2" in denied.stdout
        login = stack.run_docker(
            *env_cli, "login", "-u", "builder", "--password-stdin", reg.host, input="s3cret"
        )
        assert login.returncode == 0, login.stderr
        # X-Registry-Config carries the login to the FROM pull
        result = stack.run_docker(*env_cli, "build", str(ctx), timeout=120)
        out = _ok(result)
        assert f"Status: Downloaded newer image for {base}:latest" in out
        again = stack.run_docker(*env_cli, "build", "--pull", str(ctx), timeout=120)
        assert f"Status: Image is up to date for {base}:latest" in _ok(again)
        stack.run_docker("rmi", "-f", base)


# ------------------------------------------------------------ remote contexts


@pytest.fixture
def web_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """Files served over HTTP on 127.0.0.1 (a remote context's URL)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_remote_context_over_http(
    stack: Stack, busybox: str, web_root: tuple[Path, str], tag: str
) -> None:
    root, url = web_root
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in (
            ("Dockerfile", b"FROM busybox\nCOPY hello /hello\n"),
            ("hello", b"hi\n"),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    (root / "ctx.tar.gz").write_bytes(buf.getvalue())
    (root / "Dockerfile.txt").write_text("FROM busybox\nRUN echo plain > /plain\n")
    client = stack.docker_client()
    image, _ = client.images.build(path=f"{url}/ctx.tar.gz", tag=tag)
    assert client.containers.run(image.id, "cat /hello", remove=True) == b"hi\n"
    image, _ = client.images.build(path=f"{url}/Dockerfile.txt", tag=tag)
    assert client.containers.run(image.id, "cat /plain", remove=True) == b"plain\n"
    with pytest.raises(Exception, match=r"error downloading remote context .*/missing"):
        client.images.build(path=f"{url}/missing", tag=tag)
    refused = f"http://127.0.0.1:{_closed_port()}/ctx.tar"
    with pytest.raises(Exception, match="connect: connection refused"):
        client.images.build(path=refused, tag=tag)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_remote_context_from_git(stack: Stack, busybox: str, tmp_path: Path, tag: str) -> None:
    import shutil
    import socket

    if not shutil.which("git"):
        pytest.skip("git is not installed")
    repo = tmp_path / "repos" / "app.git"
    work = tmp_path / "work"
    work.mkdir()
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    (work / "sub").mkdir()
    (work / "sub" / "Dockerfile").write_text("FROM busybox\nCOPY note /note\n")
    (work / "sub" / "note").write_text("from git\n")
    subprocess.run([*git, "init", "-q", "-b", "main", str(work)], check=True)
    subprocess.run([*git, "-C", str(work), "add", "."], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "c"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(repo)], check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    daemon = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            "--reuseaddr",
            "--listen=127.0.0.1",
            f"--port={port}",
            f"--base-path={tmp_path / 'repos'}",
            str(tmp_path / "repos"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _until(
            lambda: (
                subprocess.run(
                    ["git", "ls-remote", f"git://127.0.0.1:{port}/app.git"], capture_output=True
                ).returncode
                == 0
            ),
            timeout=10,
        )
        client = stack.docker_client()
        image, _ = client.images.build(path=f"git://127.0.0.1:{port}/app.git#main:sub", tag=tag)
        assert client.containers.run(image.id, "cat /note", remove=True) == b"from git\n"
        with pytest.raises(Exception, match="unable to 'git clone'"):
            client.images.build(path=f"git://127.0.0.1:{port}/nosuch.git", tag=tag)
    finally:
        daemon.terminate()
        daemon.wait()


# -------------------------------------------------------------- compose


COMPOSE_FILE = """\
version: "3.8"
services:
  app:
    build:
      context: ./app
      args:
        GREETING: from-compose
      target: final
      labels:
        made.by: compose
    image: {image}
    command: ["sh", "-c", "cat /greeting; sleep 300"]
"""


def test_compose_builds_and_runs_a_project(
    stack: Stack, busybox: str, tmp_path: Path, tag: str
) -> None:
    if compose_missing():
        pytest.skip(compose_missing() or "")
    project = f"hgcb{secrets.token_hex(3)}"
    image = f"{project}-app:latest"
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.format(image=image))
    _write(
        tmp_path / "app",
        {
            "Dockerfile": "FROM busybox AS base\nARG GREETING=none\n"
            'RUN echo "$GREETING" > /greeting\nFROM base AS final\nCOPY . /src/\n',
            "main.txt": "main\n",
        },
    )

    compose = Compose(stack, project, tmp_path)
    try:
        built = compose("build")
        assert built.returncode == 0, (built.stdout, built.stderr)
        assert "Successfully tagged " + image in built.stdout + built.stderr
        labels = json.loads(
            _ok(stack.run_docker("inspect", "-f", "{{json .Config.Labels}}", image))
        )
        assert labels == {"made.by": "compose"}
        (tmp_path / "app" / "main.txt").write_text("changed\n")
        up = compose("up", "-d", "--build")
        assert up.returncode == 0, (up.stdout, up.stderr)
        assert "Using cache" in up.stdout + up.stderr
        cid = _ok(compose("ps", "-q", "app")).strip()
        assert _until(lambda: "from-compose" in stack.run_docker("logs", cid).stdout)
        out = _ok(stack.run_docker("exec", cid, "cat", "/src/main.txt"))
        assert out == "changed\n"
    finally:
        compose("down", "-v", "--rmi", "all")


# ------------------------------------------------------- RUN like docker run


def test_run_steps_get_the_network_and_limits_asked_for(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    network = f"hgbn{secrets.token_hex(3)}"
    _ok(stack.run_docker("network", "create", network))
    try:
        subnet = _ok(
            stack.run_docker(
                "network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", network
            )
        ).strip()
        _write(
            ctx,
            {
                "Dockerfile": "FROM busybox\n"
                "RUN ip -o -4 addr show | grep -v ' lo ' | awk '{print $4}' > /addr; "
                "ulimit -n > /nofile; "
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max "
                "2>/dev/null | head -1 > /memory; "
                "cat /sys/fs/cgroup/cpu/cpu.shares 2>/dev/null > /shares || true\n",
            },
        )
        _ok(
            _build(
                stack,
                ctx,
                "--network",
                network,
                "--memory",
                "64m",
                "--ulimit",
                "nofile=512:512",
                "--cpu-shares",
                "512",
                "-t",
                tag,
            )
        )
        out = _ok(stack.run_docker("run", "--rm", tag, "cat", "/addr", "/nofile", "/memory"))
        addr, nofile, memory = out.split()
        assert ipaddress.ip_address(addr.split("/")[0]) in ipaddress.ip_network(subnet)
        assert nofile == "512"
        assert memory == str(64 << 20)
        _ok(_build(stack, ctx, "--network", "none", "--no-cache", "-t", tag))
        assert _ok(stack.run_docker("run", "--rm", tag, "cat", "/addr")) == ""
        # host: the machine's own interfaces, the stack's bridge among them
        _write(ctx, {"Dockerfile": "FROM busybox\nRUN ip -o link > /links\n"})
        _ok(_build(stack, ctx, "--network", "host", "-t", tag))
        links = _ok(stack.run_docker("run", "--rm", tag, "cat", "/links"))
        assert f" {stack.bridge}:" in links
    finally:
        stack.run_docker("network", "rm", network)


def test_shell_arg_scope_escape_and_syntax_directives(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    _write(
        ctx,
        {
            "Dockerfile": "# syntax=docker/dockerfile:1\n# escape=`\n"
            "ARG TOP=top\nFROM busybox AS one\nARG TOP\nARG LOCAL=one\n"
            'RUN echo "$TOP $LOCAL" > /one\n'
            'SHELL ["/bin/sh", "-c", "echo shell: \\"$0\\" > /shell; exec sh -c \\"$0\\""]\n'
            "RUN true\n"
            "FROM busybox\nCOPY --from=one /one /shell /\n"
            'RUN echo "[${LOCAL:-unset}] [${TOP:-unset}]" `\n  > /two\n',
        },
    )
    out = _ok(_build(stack, ctx, "-t", tag))
    assert "the syntax directive (docker/dockerfile:1) is ignored" in out
    result = _ok(stack.run_docker("run", "--rm", tag, "cat", "/one", "/shell", "/two"))
    assert result == "top one\nshell: true\n[unset] [unset]\n"


def test_add_from_a_url(
    stack: Stack, busybox: str, ctx: Path, tag: str, web_root: tuple[Path, str]
) -> None:
    root, url = web_root
    (root / "data.txt").write_text("downloaded\n")
    _write(ctx, {"Dockerfile": f"FROM busybox\nADD {url}/data.txt /d/\n"})
    _ok(_build(stack, ctx, "-t", tag))
    out = _ok(
        stack.run_docker("run", "--rm", tag, "sh", "-c", "cat /d/data.txt; stat -c %a /d/data.txt")
    )
    assert out == "downloaded\n600\n"
    _write(ctx, {"Dockerfile": f"FROM busybox\nADD {url}/nothere /d/\n"})
    failed = _build(stack, ctx)
    assert failed.returncode != 0
    assert "404" in failed.stderr


def test_stages_the_target_does_not_need_are_not_built(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    _write(
        ctx,
        {
            "Dockerfile": "FROM busybox AS broken\nRUN exit 1\n"
            "FROM busybox AS used\nRUN echo used > /u\n"
            "FROM busybox\nCOPY --from=used /u /u\n",
        },
    )
    lines = _lines(_ok(_build(stack, ctx, "-t", tag)))
    assert [line for line in lines if line.startswith("Step ")] == [
        "Step 1/4 : FROM busybox AS used",
        "Step 2/4 : RUN echo used > /u",
        "Step 3/4 : FROM busybox",
        "Step 4/4 : COPY --from=used /u /u",
    ]
    assert _ok(stack.run_docker("run", "--rm", tag, "cat", "/u")) == "used\n"


# -------------------------------------------------------------- testcontainers


def test_testcontainers_builds_and_runs_an_image(
    stack: Stack, busybox: str, ctx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("testcontainers")
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.image import DockerImage
    from testcontainers.core.waiting_utils import wait_for_logs

    monkeypatch.setenv("DOCKER_HOST", stack.docker_host)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")  # its reaper image is on Hub
    _write(
        ctx,
        {"Dockerfile": "FROM busybox\nCOPY msg /msg\nCMD cat /msg; sleep 60\n", "msg": "ready\n"},
    )
    with DockerImage(path=str(ctx), tag=f"hgtc{secrets.token_hex(3)}:1") as image:
        assert "Successfully built" in "".join(c.get("stream", "") for c in image.get_logs())
        with DockerContainer(str(image)) as container:
            wait_for_logs(container, "ready", timeout=30)


def test_chmod_sets_modes_and_is_part_of_the_cache_key(
    stack: Stack, busybox: str, ctx: Path, tag: str
) -> None:
    _write(ctx, {"Dockerfile": "FROM busybox\nCOPY --chmod=751 f /f\n", "f": "f\n"})
    _ok(_build(stack, ctx, "-t", tag))
    assert _ok(stack.run_docker("run", "--rm", tag, "stat", "-c", "%a", "/f")) == "751\n"
    _write(ctx, {"Dockerfile": "FROM busybox\nCOPY --chmod=700 f /f\n"})
    lines = _lines(_ok(_build(stack, ctx, "-t", tag)))
    assert " ---> Using cache" not in lines
    assert _ok(stack.run_docker("run", "--rm", tag, "stat", "-c", "%a", "/f")) == "700\n"
    history = _ok(stack.run_docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", tag))
    assert history.splitlines()[0].startswith("/bin/sh -c #(nop) COPY --chmod=700 file:")


def test_several_tags_and_a_missing_dockerfile(stack: Stack, busybox: str, ctx: Path) -> None:
    _write(ctx, {"Dockerfile": "FROM busybox\nENV T=1\n"})
    first, second = f"hgbt{secrets.token_hex(3)}:a", f"hgbt{secrets.token_hex(3)}/b:c"
    try:
        lines = _lines(_ok(_build(stack, ctx, "-t", first, "-t", second)))
        assert lines[-2:] == [f"Successfully tagged {first}", f"Successfully tagged {second}"]
        ids = {
            _ok(stack.run_docker("inspect", "-f", "{{.Id}}", name)).strip()
            for name in (first, second)
        }
        assert len(ids) == 1
    finally:
        stack.run_docker("rmi", first, second)
    missing = _build(stack, ctx, "-f", str(ctx / "Nope.df"))
    assert missing.returncode == 1
    # the CLI looks for the file itself; docker-py leaves it to the daemon
    (ctx / "Dockerfile").unlink()
    (ctx / "other").write_text("x")
    with pytest.raises(Exception, match="Cannot locate specified Dockerfile: Dockerfile"):
        stack.docker_client().images.build(path=str(ctx))
