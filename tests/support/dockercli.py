"""The docker CLI the tests drive, found on its own: HANGU_TEST_DOCKER if
set, else /usr/local/bin/docker (where Docker's static builds go), else
`docker` on PATH (Debian's docker.io: /usr/bin/docker, 20.10, which `make
deps` installs when there is none).

A test that needs a newer client than the one found says so and skips:

    @requires_docker_cli("23.0")
    def test_uses_a_newer_flag(stack): ...
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

STATIC_BUILD = Path("/usr/local/bin/docker")


def find_docker() -> str:
    override = os.environ.get("HANGU_TEST_DOCKER")
    if override:
        return override
    if os.access(STATIC_BUILD, os.X_OK):
        return str(STATIC_BUILD)
    # Not found: the bare name, so a failing test says what it tried to run.
    return shutil.which("docker") or "docker"


DOCKER = find_docker()


def parse_version(text: str) -> tuple[int, ...] | None:
    """(28, 2, 2) from `docker --version` ("Docker version 28.2.2, build
    e6534b4", "Docker version 20.10.24+dfsg1, build 297e128") or from "23.0"."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if match is None:
        return None
    return tuple(int(part) for part in match.groups() if part is not None)


@functools.cache
def cli_version(docker: str = DOCKER) -> tuple[int, ...] | None:
    """The client's version; None when it cannot be run."""
    try:
        out = subprocess.run(
            [docker, "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    return parse_version(out.stdout) if out.returncode == 0 else None


def _shown(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


def missing_docker_cli(minimum: str, docker: str = DOCKER) -> str | None:
    """Why the client found cannot run a test that needs `minimum` (None if it can)."""
    wanted = parse_version(minimum)
    assert wanted is not None, minimum
    found = cli_version(docker)
    if found is None:
        return f"needs docker CLI >= {minimum}; none runs at {docker}"
    if found < wanted:
        return f"needs docker CLI >= {minimum}; {docker} is {_shown(found)}"
    return None


def requires_docker_cli(minimum: str) -> pytest.MarkDecorator:
    """Skip unless the docker CLI found is at least `minimum` ("23.0").
    Evaluated when the test is collected, once per client."""
    reason = missing_docker_cli(minimum)
    return pytest.mark.skipif(reason is not None, reason=reason or "")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The stdout of a docker CLI run that must succeed (else its output in
    the failure)."""
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout
