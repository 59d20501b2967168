"""Issue 9, three pieces of `docker run` as dockerd does them, through the
whole stack with the real docker CLI and docker-py, on a stack of this
module's own (bridge hgi<rand>, subnets from 10.236.0.0/16):

- `--init`: Debian's tini is pid 1 (bind-mounted read-only at
  /sbin/docker-init), the command its child; it forwards `docker stop`'s
  signal and reaps orphans.
- `docker diff` and `docker commit` leave out what runc makes only to mount
  the container's own file systems on (/etc/hosts, /etc/hostname,
  /etc/resolv.conf, /dev ...), as dockerd's init layer does.
- `docker run`'s exit codes 125, 126, 127 and the daemon's wording of a
  command that cannot be run, in the container's state too.

The expected values are dockerd 20.10's on this machine (same runc)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.dockercli import ok
from tests.support.stack import Stack, inspect, module_stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]

OCI_CREATE = (
    "failed to create task for container: failed to create shim task: "
    "OCI runtime create failed: runc create failed: unable to start container process: "
)


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from module_stack("init", bridge_prefix="hgi", subnet_pool="10.236.0.0/16")


@pytest.fixture(scope="module")
def busybox(stack: Stack, busybox_docker_archive: Path) -> str:
    stack.load_image(busybox_docker_archive)
    return "busybox:latest"


@pytest.fixture()
def names(stack: Stack) -> Iterator[list[str]]:
    """Containers (and then images, prefixed "image:") to remove afterwards."""
    made: list[str] = []
    yield made
    containers = [n for n in made if not n.startswith("image:")]
    if containers:
        stack.run_docker("rm", "-f", "-v", *containers)
    for n in made:
        if n.startswith("image:"):
            stack.run_docker("rmi", "-f", n.removeprefix("image:"))


def _name(names: list[str], prefix: str) -> str:
    name = f"{prefix}-{secrets.token_hex(3)}"
    names.append(name)
    return name


# ------------------------------------------------------------------ --init


def test_init_is_pid_1_and_the_command_its_child(stack: Stack, busybox: str) -> None:
    if not shutil.which("tini-static") and not shutil.which("tini"):
        pytest.skip("Debian's tini is not installed (make deps)")
    ps = ok(stack.run_docker("run", "--rm", "--init", busybox, "ps", "-o", "pid,ppid,args"))
    rows = [line.split(None, 2) for line in ps.splitlines()[1:]]
    assert rows[0] == ["1", "0", "/sbin/docker-init -- ps -o pid,ppid,args"]
    assert [r for r in rows if r[2] == "ps -o pid,ppid,args"][0][1] == "1"
    cmdline = ok(stack.run_docker("run", "--rm", "--init", busybox, "cat", "/proc/1/cmdline"))
    assert cmdline == "/sbin/docker-init\0--\0cat\0/proc/1/cmdline\0"
    # tini itself (the static one when there is one), bind-mounted read-only
    script = "grep ' /sbin/docker-init ' /proc/self/mountinfo; /sbin/docker-init --version"
    out = ok(stack.run_docker("run", "--rm", "--init", "--entrypoint", "sh", busybox, "-c", script))
    mountinfo, version = out.splitlines()[:2]
    root, target, options = mountinfo.split()[3:6]
    tini = os.path.realpath(shutil.which("tini-static") or shutil.which("tini") or "")
    assert (root, target) == (tini, "/sbin/docker-init")
    assert options.split(",")[0] == "ro"
    assert version.startswith("tini version ")
    # without --init the command is pid 1
    plain = ok(stack.run_docker("run", "--rm", busybox, "cat", "/proc/1/cmdline"))
    assert plain == "cat\0/proc/1/cmdline\0"


def test_init_in_inspect(stack: Stack, busybox: str, names: list[str]) -> None:
    with_init, without = _name(names, "ii"), _name(names, "in")
    ok(stack.run_docker("create", "--name", with_init, "--init", busybox, "sleep", "100"))
    ok(stack.run_docker("create", "--name", without, busybox, "true"))
    doc = inspect(stack, with_init)
    assert doc["HostConfig"]["Init"] is True
    # Path and Args stay the user's command, as dockerd's
    assert (doc["Path"], doc["Args"]) == ("sleep", ["100"])
    assert inspect(stack, without)["HostConfig"]["Init"] is None


def test_init_forwards_the_stop_signal(stack: Stack, busybox: str, names: list[str]) -> None:
    """sleep as pid 1 ignores SIGTERM (the kernel drops signals pid 1 has
    no handler for): only SIGKILL ends it, 137 after the timeout. Under
    tini, SIGTERM reaches sleep: 143 at once."""
    with_init, without = _name(names, "is"), _name(names, "ns")
    ok(stack.run_docker("run", "-d", "--name", with_init, "--init", busybox, "sleep", "100"))
    ok(stack.run_docker("run", "-d", "--name", without, busybox, "sleep", "100"))
    t0 = time.monotonic()
    ok(stack.run_docker("stop", "-t", "10", with_init))
    assert time.monotonic() - t0 < 5
    assert inspect(stack, with_init)["State"]["ExitCode"] == 143
    t0 = time.monotonic()
    ok(stack.run_docker("stop", "-t", "1", without))
    assert time.monotonic() - t0 >= 1
    assert inspect(stack, without)["State"]["ExitCode"] == 137


def _zombies(stack: Stack, name: str) -> list[str]:
    ps = ok(stack.run_docker("exec", name, "ps", "-o", "stat,comm"))
    return [line for line in ps.splitlines()[1:] if line.startswith("Z")]


def test_init_reaps_orphans(stack: Stack, busybox: str, names: list[str]) -> None:
    """An exec'd shell leaves a background sleep behind: orphaned, it goes
    to pid 1, which must reap it once it exits."""
    with_init, without = _name(names, "iz"), _name(names, "nz")
    for name, extra in ((with_init, ["--init"]), (without, [])):
        ok(stack.run_docker("run", "-d", "--name", name, *extra, busybox, "sleep", "100"))
        ok(stack.run_docker("exec", name, "sh", "-c", "sleep 0.2 & exit 0"))
    time.sleep(1)
    assert _zombies(stack, with_init) == []
    assert len(_zombies(stack, without)) == 1  # the control: sleep never waits


def test_init_with_docker_py(stack: Stack, busybox: str) -> None:
    client = stack.docker_client()
    try:
        out = client.containers.run(busybox, ["cat", "/proc/1/cmdline"], init=True, remove=True)
        assert out == b"/sbin/docker-init\0--\0cat\0/proc/1/cmdline\0"
        ctr = client.containers.create(busybox, ["true"], init=True)
        try:
            assert ctr.attrs["HostConfig"]["Init"] is True
        finally:
            ctr.remove()
    finally:
        client.close()


def test_no_init_with_the_host_pid_namespace(stack: Stack, busybox: str) -> None:
    # dockerd runs its init only in a pid namespace of the container's own
    out = ok(
        stack.run_docker(
            "run", "--rm", "--init", "--pid", "host", busybox, "sh", "-c", "echo $$; ls /sbin"
        )
    )
    pid, listing = out.split("\n", 1)
    assert pid != "1" and "docker-init" not in listing.split()


# ------------------------------------------------------------------ docker diff


# `docker run -d ARGS`, then `docker diff`: dockerd 20.10's answers.
DIFFS: list[tuple[list[str], list[str]]] = [
    (["busybox", "true"], []),
    (["busybox", "touch", "/x"], ["A /x"]),
    (["busybox", "rm", "/bin/ls"], ["C /bin", "D /bin/ls"]),
    (["busybox", "mkdir", "-p", "/a/b"], ["A /a", "A /a/b"]),
    # bind mounts: the writes go to the network service's files
    (
        ["busybox", "sh", "-c", "echo 1.2.3.4 foo >> /etc/hosts; echo x > /etc/hostname"],
        [],
    ),
    (["busybox", "sh", "-c", "touch /dev/shm/x /dev/y /tmp/z"], ["C /tmp", "A /tmp/z"]),
    (
        ["busybox", "sh", "-c", "mkdir /etc/foo; rm /etc/passwd"],
        ["C /etc", "A /etc/foo", "D /etc/passwd"],
    ),
    # the mount points of the user's own mounts do show, as dockerd's
    (["-v", "/data", "busybox", "true"], ["A /data"]),
    (["--tmpfs", "/foo", "busybox", "true"], ["A /foo"]),
    (["-w", "/newdir", "busybox", "true"], ["A /newdir"]),
    (["--init", "busybox", "true"], ["C /sbin", "A /sbin/docker-init"]),
]


@pytest.mark.parametrize(("args", "expected"), DIFFS, ids=[" ".join(a) for a, _ in DIFFS])
def test_diff_lists_only_what_the_container_changed(
    stack: Stack, busybox: str, names: list[str], args: list[str], expected: list[str]
) -> None:
    name = _name(names, "df")
    ok(stack.run_docker("run", "-d", "--name", name, *args))
    assert ok(stack.run_docker("wait", name)).strip() == "0"
    assert ok(stack.run_docker("diff", name)).splitlines() == expected


def test_diff_of_a_running_container(stack: Stack, busybox: str, names: list[str]) -> None:
    # the bind mounts and /dev, /proc, /sys are mounted then
    name = _name(names, "dr")
    ok(stack.run_docker("run", "-d", "--name", name, busybox, "sleep", "100"))
    assert ok(stack.run_docker("diff", name)) == ""
    ok(stack.run_docker("exec", name, "sh", "-c", "echo x >> /etc/hosts; touch /y"))
    assert ok(stack.run_docker("diff", name)).splitlines() == ["A /y"]


def _top_layer(stack: Stack, image: str) -> list[str]:
    work = Path(tempfile.mkdtemp(prefix="hgt-init-", dir="/tmp"))
    try:
        archive = work / "image.tar"
        ok(stack.run_docker("save", "-o", str(archive), image))
        with tarfile.open(archive) as outer:
            manifest = json.load(outer.extractfile("manifest.json"))  # type: ignore[arg-type]
            layer = outer.extractfile(manifest[0]["Layers"][-1])
            assert layer is not None
            with tarfile.open(fileobj=layer) as inner:
                return sorted(n.rstrip("/") for n in inner.getnames())
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_commit_carries_no_placeholder(stack: Stack, busybox: str, names: list[str]) -> None:
    name = _name(names, "cm")
    ok(stack.run_docker("run", "--name", name, busybox, "sh", "-c", "echo hi > /x"))
    image = f"hgt/init-commit:{secrets.token_hex(3)}"
    names.append(f"image:{image}")
    ok(stack.run_docker("commit", name, image))
    assert _top_layer(stack, image) == ["x"]
    # a container of the committed image that writes nothing: nothing to diff
    again = _name(names, "cm2")
    ok(stack.run_docker("run", "--name", again, image, "cat", "/x"))
    assert ok(stack.run_docker("diff", again)) == ""
    # an empty commit is one empty layer, as dockerd's
    image2 = f"hgt/init-commit:{secrets.token_hex(3)}"
    names.append(f"image:{image2}")
    ok(stack.run_docker("commit", again, image2))
    assert _top_layer(stack, image2) == []


# ------------------------------------------------------------------ exit codes


# `docker run --name N busybox CMD`: (CLI exit code, State.ExitCode, the
# daemon's message after OCI_CREATE), dockerd 20.10's with current
# Docker's "failed to create task for container: " in front.
EXIT_CODES = [
    (["/etc/passwd"], 126, 126, 'exec: "/etc/passwd": permission denied: unknown'),
    (["/etc"], 126, 126, 'exec: "/etc": permission denied: unknown'),
    (
        ["nosuchcmd"],
        127,
        127,
        'exec: "nosuchcmd": executable file not found in $PATH: unknown',
    ),
    (["/nosuch"], 127, 127, 'exec: "/nosuch": stat /nosuch: no such file or directory: unknown'),
    (
        ["/etc/passwd/x"],
        125,  # the CLI's own reading: neither "not found" nor "permission denied"
        127,
        'exec: "/etc/passwd/x": stat /etc/passwd/x: not a directory: unknown: Are you '
        "trying to mount a directory onto a file (or vice-versa)? Check if the specified "
        "host path exists and is the expected type",
    ),
]


@pytest.mark.parametrize(
    ("cmd", "cli_code", "state_code", "message"), EXIT_CODES, ids=[c[0][0] for c in EXIT_CODES]
)
def test_run_exit_codes_and_wording(
    stack: Stack,
    busybox: str,
    names: list[str],
    cmd: list[str],
    cli_code: int,
    state_code: int,
    message: str,
) -> None:
    name = _name(names, "ec")
    done = stack.run_docker("run", "--name", name, busybox, *cmd)
    assert done.returncode == cli_code, done.stderr
    assert f"Error response from daemon: {OCI_CREATE}{message}" in done.stderr
    state = inspect(stack, name)["State"]
    assert state["Status"] == "created" and not state["Running"] and state["Pid"] == 0
    assert state["ExitCode"] == state_code
    assert state["Error"] == OCI_CREATE + message
    assert state["StartedAt"] == "0001-01-01T00:00:00Z"


def test_a_daemon_error_is_125(stack: Stack, busybox: str) -> None:
    done = stack.run_docker("run", "--rm", "--network", "nosuchnet", busybox, "true")
    assert done.returncode == 125
    assert "Error response from daemon: network nosuchnet not found" in done.stderr


def test_start_errors_with_docker_py(stack: Stack, busybox: str) -> None:
    import docker

    client = stack.docker_client()
    ctr: Any = None
    try:
        ctr = client.containers.create(busybox, ["nosuchcmd"])
        with pytest.raises(docker.errors.APIError) as err:
            ctr.start()
        assert err.value.status_code == 400
        assert err.value.explanation == (
            OCI_CREATE + 'exec: "nosuchcmd": executable file not found in $PATH: unknown'
        )
        ctr.reload()
        assert (ctr.attrs["State"]["Status"], ctr.attrs["State"]["ExitCode"]) == ("created", 127)
    finally:
        if ctr is not None:
            ctr.remove(force=True)
        client.close()
