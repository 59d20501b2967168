"""The supervisor with the real services: what `make up` / `make down` do.
Containers outlive a crashed or stopped service; a purge leaves nothing."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import busybox
from tests.support.stack import Stack, stack_available

pytestmark = [pytest.mark.root, pytest.mark.e2e]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return busybox.write_docker_archive(
        busybox.busybox_image(), tmp_path_factory.mktemp("img") / "busybox.tar"
    )


@pytest.fixture(scope="module")
def real_stack(archive: Path) -> Iterator[Stack]:
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    # Started without HANGU_PURGE_ON_STOP, like `make up`; Stack.stop purges.
    stack = Stack("inf", bridge_prefix="hgi", subnet_pool="10.204.0.0/16", purge_on_stop=False)
    with stack:
        stack.load_image(archive)
        yield stack


def state_of(stack: Stack, cid: str) -> str:
    return str(stack.run_docker("inspect", "-f", "{{.State.Status}}", cid).stdout.strip())


def conmon_pids(stack: Stack) -> list[int]:
    return [
        pid
        for pid in stack.processes()
        if b"conmon" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
    ]


def test_status_of_a_real_stack(real_stack: Stack) -> None:
    status = real_stack.supervisor("status")
    assert status.returncode == 0, status.stdout
    for name in ("volume", "network", "image", "container", "gateway"):
        assert real_stack.service(name)["state"] == "running"
    version = real_stack.run_docker("version", "--format", "{{.Server.APIVersion}}")
    assert version.returncode == 0 and version.stdout.strip() == "1.47", version.stderr


def test_killed_container_service_is_restarted_and_containers_survive(real_stack: Stack) -> None:
    run = real_stack.run_docker("run", "-d", "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    real_stack.kill_service("container", signal.SIGKILL)
    assert real_stack.service("container")["restarts"] >= 1
    assert state_of(real_stack, cid) == "running"
    assert cid[:12] in real_stack.run_docker("ps", "-q").stdout.split()
    stop = real_stack.run_docker("stop", "-t", "1", cid)
    assert stop.returncode == 0, stop.stderr
    assert state_of(real_stack, cid) == "exited"


def test_down_leaves_containers_running_and_up_finds_them(real_stack: Stack) -> None:
    run = real_stack.run_docker("run", "-d", "busybox", "sleep", "300")
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    shims = conmon_pids(real_stack)
    assert shims
    assert real_stack.supervisor("stop").returncode == 0  # make down
    assert real_stack.supervisor("status").returncode == 3
    time.sleep(0.2)
    assert all(Path(f"/proc/{pid}").exists() for pid in shims)
    assert real_stack.mounts(), "the container's root filesystem stays mounted"
    start = real_stack.supervisor("start")  # make up
    assert start.returncode == 0, start.stderr
    assert state_of(real_stack, cid) == "running"
    assert real_stack.run_docker("rm", "-f", cid).returncode == 0


@pytest.mark.parametrize("name", ["gateway", "network", "image", "volume"])
def test_every_killed_service_comes_back(real_stack: Stack, name: str) -> None:
    old = real_stack.kill_service(name, signal.SIGKILL)
    assert real_stack.pid(name) != old
    ps = real_stack.run_docker("ps", "-a")
    assert ps.returncode == 0, ps.stderr
    run = real_stack.run_docker("run", "--rm", "busybox", "echo", "ok")
    assert run.returncode == 0 and run.stdout == "ok\n", run.stderr
