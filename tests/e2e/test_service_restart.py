"""Containers outlive the container service (issue 2, acceptance item 5):
SIGKILL it while `docker run -d busybox sleep 300` containers run; they keep
running, and once it is back `docker ps` lists them and `docker stop` works."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.stack import Stack


def test_sigkill_container_service(stack: Stack, busybox: str) -> None:
    ids = []
    for _ in range(2):
        result = stack.run_docker("run", "-d", busybox, "sleep", "300")
        assert result.returncode == 0, result.stderr
        ids.append(result.stdout.strip())
    pids = [
        int(stack.run_docker("inspect", "--format", "{{.State.Pid}}", cid).stdout) for cid in ids
    ]
    assert all(pid > 0 for pid in pids)
    try:
        stack.kill_service("container", signal.SIGKILL)  # returns once it answers again
        for pid in pids:
            assert Path(f"/proc/{pid}").exists(), "container process died with the service"
        ps = stack.run_docker("ps", "--no-trunc", "--format", "{{.ID}} {{.State}}")
        assert ps.returncode == 0, ps.stderr
        listed = dict(line.split() for line in ps.stdout.splitlines())
        for cid in ids:
            assert listed.get(cid) == "running", ps.stdout
        stop = stack.run_docker("stop", "-t", "1", *ids)
        assert stop.returncode == 0, stop.stderr
        for cid in ids:
            status = stack.run_docker("inspect", "--format", "{{.State.Status}}", cid)
            assert status.stdout.strip() == "exited"
    finally:
        stack.run_docker("rm", "-f", *ids)
