"""The README's commands: `make up` starts the stack where HANGU_ROOT and
HANGU_RUN say, `make down` stops it, `make purge` removes what it made;
`.ci/run` runs exactly the README's test command."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.support.stack import CHECKOUT, DOCKER, split_pool, stack_available


def test_readme_gives_up_then_test() -> None:
    readme = (CHECKOUT / "README.md").read_text()
    first_block = re.search(r"```sh\n(.*?)```", readme, re.S)
    assert first_block
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make up", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    ci = CHECKOUT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    lines = [
        line.strip()
        for line in ci.read_text().splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    assert lines[-1] in ("make test", "exec make test </dev/null")
    assert "set -euo pipefail" in lines


@pytest.mark.root
@pytest.mark.e2e
def test_make_up_down_purge() -> None:
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    if shutil.which("make") is None:
        pytest.skip("no make")
    tmp = Path(tempfile.mkdtemp(prefix="hgt-inf-", dir="/tmp"))
    suffix = secrets.token_hex(3)
    env = {
        **os.environ,
        "HANGU_ROOT": str(tmp / "root"),
        "HANGU_RUN": str(tmp / "run"),
        "HANGU_BRIDGE": f"hgi{suffix}",
        "HANGU_NFT_TABLE": f"hgi_{suffix}",
        "HANGU_SUBNET_POOL": split_pool("10.204.0.0/16"),
    }

    def make(target: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["make", "-s", "-C", str(CHECKOUT), target],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )

    try:
        up = make("up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert (tmp / "run" / "hangu.sock").exists()
        assert (tmp / "run" / "grpc" / "container.sock").exists()
        assert make("status").returncode == 0
        version = subprocess.run(
            [DOCKER, "version", "--format", "{{.Server.APIVersion}}"],
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **env,
                "DOCKER_HOST": f"unix://{tmp / 'run' / 'hangu.sock'}",
                "DOCKER_CONFIG": str(tmp),
            },
        )
        assert version.returncode == 0 and version.stdout.strip() == "1.47", version.stderr
        assert make("up").returncode == 0  # idempotent
        assert make("down").returncode == 0
        assert not (tmp / "run" / "hangu.sock").exists()
        assert make("status").returncode != 0
    finally:
        purge = make("purge")
        assert purge.returncode == 0, purge.stdout + purge.stderr
        assert not Path(f"/sys/class/net/hgi{suffix}").exists()
        mounts = Path("/proc/self/mountinfo").read_text()
        assert str(tmp) not in mounts
        shutil.rmtree(tmp, ignore_errors=True)
