"""The supervisor against stand-in services (tests/deploy/fakes.py): start
order, readiness, restart on failure, stop, purge, orphans. The same
supervisor against the real services is in test_supervisor_real.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy import fakes
from tests.support.stack import SOURCE_DIRS, Stack

ORDER = ["volume", "network", "image", "container", "gateway"]


@pytest.fixture(scope="module")
def fake_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("fakes")
    fakes.install(folder)
    return os.pathsep.join([str(folder), *map(str, SOURCE_DIRS)])


def make_stack(fake_path: str, purge_on_stop: bool = True) -> Stack:
    return Stack(
        "inf", "hgi", "10.204.0.0/16", env={"PYTHONPATH": fake_path}, purge_on_stop=purge_on_stop
    )


@pytest.fixture
def stack(fake_path: str) -> Iterator[Stack]:
    s = make_stack(fake_path)
    s.start()
    try:
        yield s
    finally:
        s.stop()


def marks(stack: Stack) -> Path:
    return stack.root / "marks"


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_start_in_order_status_and_idempotent_start(stack: Stack) -> None:
    order = lines(marks(stack) / "order")
    # volume, network and image start together; then container; then gateway.
    assert sorted(order[:3]) == ["image+purge", "network+purge", "volume+purge"]
    assert order[3:] == ["container+purge", "gateway"]
    for name in ORDER:
        assert stack.pid(name) and stack.service(name)["state"] == "running"
        assert (stack.run / "logs" / f"{name}.log").exists()
    status = stack.supervisor("status")
    assert status.returncode == 0, status.stdout
    assert "container" in status.stdout
    pids = {n: stack.pid(n) for n in ORDER}
    again = stack.supervisor("start")
    assert again.returncode == 0 and "running" in again.stdout
    assert {n: stack.pid(n) for n in ORDER} == pids


def test_stop_is_reverse_clean_and_idempotent(fake_path: str) -> None:
    s = make_stack(fake_path)
    s.start()
    try:
        assert s.supervisor("stop").returncode == 0
        assert lines(marks(s) / "stops") == ["container", "image", "network", "volume"]
        assert not list((s.run / "pids").iterdir())
        assert not (s.run / "supervisor.sock").exists()
        assert not list((s.run / "grpc").iterdir())
        assert s.supervisor("status").returncode == 3
        second = s.supervisor("stop")
        assert second.returncode == 0 and "not running" in second.stdout
    finally:
        s.stop()


def test_sigkill_is_restarted_sigterm_is_not(stack: Stack) -> None:
    old = stack.kill_service("container", signal.SIGKILL)
    info = stack.service("container")
    assert info["pid"] != old and info["restarts"] == 1
    assert info["last_exit"] == "killed by SIGKILL"

    stack.kill_service("image", signal.SIGTERM)  # returns once the process is gone
    deadline = time.monotonic() + 10
    while stack.service("image")["state"] != "exited" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stack.service("image")["state"] == "exited"
    assert stack.supervisor("status").returncode == 3
    # `start` brings back what is not running, and only that.
    volume = stack.pid("volume")
    assert stack.supervisor("start").returncode == 0
    assert stack.service("image")["state"] == "running"
    assert stack.pid("volume") == volume


def probe(stack: Stack, name: str, timeout: float) -> int:
    return subprocess.run(
        [sys.executable, "-m", "hangu_supervisor.probe", name, "--timeout", str(timeout)],
        env=stack.env,
        timeout=60,
        capture_output=True,
    ).returncode


def test_probe_waits_for_one_service(stack: Stack) -> None:
    assert probe(stack, "gateway", 5) == 0
    assert probe(stack, "image", 5) == 0
    stack.stop_service("image")
    assert probe(stack, "image", 0.3) == 1


def test_restart_one_service(stack: Stack) -> None:
    old = stack.pid("network")
    new = stack.restart_service("network")
    assert new != old and stack.pid("network") == new
    stack.stop_service("gateway")
    assert stack.service("gateway")["state"] == "stopped"
    stack.start_service("gateway")
    assert stack.service("gateway")["state"] == "running"


def test_gives_up_after_repeated_crashes(stack: Stack) -> None:
    (marks(stack) / "volume.crash").touch()
    stack.kill_service("volume", signal.SIGKILL, wait=False)
    deadline = time.monotonic() + 30
    while stack.service("volume")["state"] != "failed" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stack.service("volume")["state"] == "failed"
    assert "not restarting" in stack.logs("supervisor")
    (marks(stack) / "volume.crash").unlink()
    assert stack.supervisor("start").returncode == 0
    assert stack.service("volume")["state"] == "running"


def test_failed_start_reports_the_log_and_leaves_nothing(fake_path: str) -> None:
    s = make_stack(fake_path)
    (s.root / "marks").mkdir(parents=True)
    (s.root / "marks" / "image.fail").touch()
    result = s.supervisor("start")
    try:
        assert result.returncode == 1
        assert "hangu-image failed: exited with code 7" in result.stderr
        assert "refusing to start (fail marker)" in result.stderr
        assert s.supervisor("status").returncode == 3
        # What had started was stopped again, in reverse order.
        assert lines(marks(s) / "stops") == ["network", "volume"]
    finally:
        s.stop()


def test_purge_restarts_services_with_purge_env(fake_path: str) -> None:
    s = make_stack(fake_path, purge_on_stop=False)
    s.start()
    try:
        result = s.supervisor("purge")
        assert result.returncode == 0, result.stderr
        for name in ("container", "image", "network", "volume"):
            assert (marks(s) / f"{name}.purged").exists()
        purge_starts = lines(marks(s) / "order")[5:]
        assert sorted(purge_starts[:3]) == ["image+purge", "network+purge", "volume+purge"]
        assert purge_starts[3:] == ["container+purge"]
        # Purging a stopped stack works too (and is what `stop --purge` does).
        for mark in marks(s).glob("*.purged"):
            mark.unlink()
        assert s.supervisor("stop", "--purge").returncode == 0
        assert (marks(s) / "container.purged").exists()
    finally:
        s.stop()


def test_plain_stop_without_purge_env_does_not_purge(fake_path: str) -> None:
    s = make_stack(fake_path, purge_on_stop=False)
    s.start()
    try:
        assert s.supervisor("stop").returncode == 0
        assert not list(marks(s).glob("*.purged"))
    finally:
        s.stop()


def test_services_outlive_a_killed_supervisor_and_stop_finds_them(stack: Stack) -> None:
    pids = {n: stack.pid(n) for n in ORDER}
    supervisor = stack.pid("supervisor")
    assert supervisor
    os.kill(supervisor, signal.SIGKILL)
    time.sleep(0.3)
    for pid in pids.values():
        assert pid and Path(f"/proc/{pid}").exists()
    status = stack.supervisor("status")
    assert status.returncode == 3 and "unsupervised" in status.stdout
    result = stack.supervisor("stop")
    assert "left by a dead supervisor" in result.stdout
    for pid in pids.values():
        assert (
            not Path(f"/proc/{pid}/cmdline").exists()
            or b"hangu_" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        )


def test_start_is_detached(fake_path: str) -> None:
    """`make up` returns while the stack runs: start must not keep the
    caller's stdout open (a pipe reader would otherwise never see EOF)."""
    s = make_stack(fake_path)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hangu_supervisor.main", "start"],
            env=s.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        s.started = True
        assert s.service("gateway")["state"] == "running"
    finally:
        s.stop()


def test_log_rotation_keeps_appending(tmp_path: Path) -> None:
    from hangu_supervisor import state

    log = tmp_path / "svc.log"
    with open(log, "ab", buffering=0) as writer:  # as a service's stdout
        writer.write(b"x" * 100)
        assert not state.rotate(log, 1000)
        assert state.rotate(log, 50)
        writer.write(b"after\n")
    assert (tmp_path / "svc.log.1").read_bytes() == b"x" * 100
    assert log.read_bytes() == b"after\n"


def test_two_starts_at_once_make_one_stack(fake_path: str) -> None:
    s = make_stack(fake_path)
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "hangu_supervisor.main", "start"],
                env=s.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=60)[0] for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        s.started = True
        order = lines(marks(s) / "order")
        assert len(order) == 5, order
    finally:
        s.stop()
