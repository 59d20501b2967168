"""Unit tests for `--init` in the OCI spec (tini as pid 1, bind-mounted as
dockerd's docker-init), the init lookup, and dockerd's reading of a failed
start (wording, exit codes 126/127, 400 or 500)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hangu_container import model as cm
from hangu_container import ocispec, starterrors
from hangu_container.runtime import InitMissing, find_init

from .rootfs import make_busybox_rootfs

INIT_MOUNT = {
    "destination": "/sbin/docker-init",
    "type": "bind",
    "source": "/usr/bin/tini-static",
    "options": ["bind", "ro"],
}


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("rootfs"))


def _spec(rootfs: Path, pid_mode: str = "", init_path: str = "/usr/bin/tini-static") -> dict:  # type: ignore[type-arg]
    cfg = cm.ContainerConfig(cmd=["sleep", "100"])
    hc = cm.HostConfig(init=True, pid_mode=pid_mode)
    return ocispec.build_spec(ocispec.SpecInput("c" * 64, cfg, hc, rootfs, init_path=init_path))


def test_init_runs_the_command_under_docker_init(rootfs: Path) -> None:
    spec = _spec(rootfs)
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "100"]
    assert spec["mounts"][-1] == INIT_MOUNT
    assert sum(m["destination"] == "/sbin/docker-init" for m in spec["mounts"]) == 1


@pytest.mark.parametrize("pid_mode", ["host", "container:abc"])
def test_no_init_without_a_pid_namespace_of_its_own(rootfs: Path, pid_mode: str) -> None:
    # dockerd: only when PidMode.IsPrivate()
    spec = _spec(rootfs, pid_mode=pid_mode)
    assert spec["process"]["args"] == ["sleep", "100"]
    assert INIT_MOUNT not in spec["mounts"]


def test_no_init_path_no_init(rootfs: Path) -> None:
    spec = _spec(rootfs, init_path="")
    assert spec["process"]["args"] == ["sleep", "100"]
    assert all(m["destination"] != "/sbin/docker-init" for m in spec["mounts"])


def _exe(path: Path) -> Path:
    path.write_bytes(b"#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_find_init_prefers_the_static_tini(tmp_path: Path) -> None:
    _exe(tmp_path / "tini")
    assert find_init(path=str(tmp_path)) == str(tmp_path / "tini")
    _exe(tmp_path / "docker-init")
    assert find_init(path=str(tmp_path)) == str(tmp_path / "docker-init")
    _exe(tmp_path / "tini-static")
    assert find_init(path=str(tmp_path)) == str(tmp_path / "tini-static")
    other = _exe(tmp_path / "my-init")
    assert find_init("my-init", path=str(tmp_path)) == str(other)
    assert find_init(str(other), path="/nonexistent") == str(other)


def test_find_init_missing_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InitMissing) as err:
        find_init(path=str(tmp_path))
    assert err.value.message.startswith('exec: "docker-init": executable file not found in $PATH')
    assert "tini" in err.value.message
    (tmp_path / "tini-static").write_bytes(b"")  # not executable: not an init
    with pytest.raises(InitMissing):
        find_init(path=str(tmp_path))
    with pytest.raises(InitMissing) as err:
        find_init("/nonexistent/tini", path=os.defpath)
    assert err.value.message == 'exec: "/nonexistent/tini": executable file not found in $PATH'


def test_runc_message_from_logrus_lines() -> None:
    out = (
        'time="2026-12-08T01:27:26Z" level=warning msg="something else"\n'
        'time="2026-12-08T01:27:26Z" level=error msg="runc create failed: unable to start'
        ' container process: exec: \\"nosuchcmd\\": executable file not found in $PATH"\n'
    )
    assert starterrors.runc_message(out) == (
        'runc create failed: unable to start container process: exec: "nosuchcmd": '
        "executable file not found in $PATH"
    )
    assert starterrors.runc_message("  plain text\n") == "plain text"
    assert starterrors.runc_message('level=error msg="a\\tb \\x41\\\\"') == "a\tb A\\"


RUNC = "runc create failed: unable to start container process: "


# dockerd 20.10 (the same runc) on this machine, `docker run busybox ...`:
# (State.ExitCode, the message after "OCI runtime create failed: ", 400?)
@pytest.mark.parametrize(
    ("runc", "code", "message", "invalid"),
    [
        (
            'exec: "nosuchcmd": executable file not found in $PATH',
            127,
            'exec: "nosuchcmd": executable file not found in $PATH: unknown',
            True,
        ),
        (
            'exec: "/nosuch": stat /nosuch: no such file or directory',
            127,
            'exec: "/nosuch": stat /nosuch: no such file or directory: unknown',
            True,
        ),
        (
            'exec: "/etc/passwd": permission denied',
            126,
            'exec: "/etc/passwd": permission denied: unknown',
            True,
        ),
        (
            'exec: "/etc/passwd/x": stat /etc/passwd/x: not a directory',
            127,
            'exec: "/etc/passwd/x": stat /etc/passwd/x: not a directory: unknown'
            + starterrors.NOT_A_DIRECTORY_HINT,
            True,
        ),
        (
            'exec: "/etc": is a directory',
            126,
            'exec: "/etc": is a directory: unknown: permission denied',
            True,
        ),
        ("cgroup: something broke", 0, "cgroup: something broke: unknown", False),
    ],
)
def test_classify_as_dockerd(runc: str, code: int, message: str, invalid: bool) -> None:
    text = starterrors.create_failed(
        f'time="x" level=error msg="{RUNC}{runc.replace(chr(34), chr(92) + chr(34))}"'
    )
    verdict = starterrors.classify(text)
    assert verdict.exit_code == code
    assert verdict.message == starterrors.CREATE_PREFIX + RUNC + message
    assert verdict.invalid is invalid
