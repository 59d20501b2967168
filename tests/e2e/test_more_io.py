"""Beyond the walkthrough: exec (with and without a TTY), logs -f, events,
diff/commit, and a clear 501 for what a service does not do yet."""

from __future__ import annotations

import json
import subprocess
import time

import pexpect

from tests.support.stack import DOCKER, Stack
from tests.support.terminal import Terminal


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return result.stdout


def test_exec(stack: Stack, busybox: str) -> None:
    cid = _ok(stack.run_docker("run", "-d", busybox, "sleep", "300")).strip()
    try:
        assert _ok(stack.run_docker("exec", cid, "echo", "in-exec")) == "in-exec\n"
        assert _ok(stack.run_docker("exec", "-i", cid, "cat", input="piped\n")) == "piped\n"
        assert stack.run_docker("exec", cid, "sh", "-c", "exit 7").returncode == 7
        child = Terminal([DOCKER, "exec", "-it", cid, "sh"], env=stack.env, timeout=30)
        try:
            child.expect("/ # ")
            child.sendline("echo tty-$((6*7))")
            child.expect("tty-42")
            child.sendline("exit")
            child.expect(pexpect.EOF)
        finally:
            child.close()
        assert child.exitstatus == 0
    finally:
        stack.run_docker("rm", "-f", cid)


def test_logs_follow_and_events(stack: Stack, busybox: str) -> None:
    since = str(int(time.time()) - 1)
    cid = _ok(
        stack.run_docker(
            "run", "-d", busybox, "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.3; done"
        )
    ).strip()
    follow = stack.run_docker("logs", "-f", cid, timeout=30)
    assert follow.stdout == "line1\nline2\nline3\n"  # returns when the container ends
    assert _ok(stack.run_docker("logs", "--tail", "1", cid)) == "line3\n"
    stamped = _ok(stack.run_docker("logs", "-t", cid)).splitlines()
    assert stamped[0].endswith("Z line1") and stamped[0][:4].isdigit()
    events = _ok(
        stack.run_docker(
            "events",
            "--since",
            since,
            "--until",
            str(int(time.time()) + 1),
            "--filter",
            f"container={cid}",
            "--format",
            "{{json .}}",
        )
    )
    actions = [json.loads(line)["Action"] for line in events.splitlines()]
    assert "create" in actions and "start" in actions and "die" in actions
    stack.run_docker("rm", cid)


def test_diff_and_commit(stack: Stack, busybox: str) -> None:
    cid = _ok(stack.run_docker("run", busybox, "sh", "-c", "echo x > /made-here")).strip()
    cid = _ok(stack.run_docker("ps", "-lq")).strip()
    try:
        assert "A /made-here" in _ok(stack.run_docker("diff", cid))
        image_id = _ok(stack.run_docker("commit", cid, "hg-committed:1")).strip()
        assert image_id.startswith("sha256:")
        out = _ok(stack.run_docker("run", "--rm", "hg-committed:1", "cat", "/made-here"))
        assert out == "x\n"
        _ok(stack.run_docker("rmi", "hg-committed:1"))
    finally:
        stack.run_docker("rm", "-f", cid)


def test_unsupported_is_a_clear_error(stack: Stack, busybox: str) -> None:
    result = stack.run_docker("run", "--rm", "--device-read-bps", "/dev/null:1mb", busybox, "true")
    assert result.returncode == 125
    assert "not supported by hangu" in result.stderr


def test_large_stdin_before_start(stack: Stack, busybox: str) -> None:
    """More stdin than a pipe holds, sent before the container starts (the
    container service holds it until `runc start` has returned: see
    hangu_container/sessions.py)."""
    data = b"x" * (8 * 1024 * 1024)
    result = stack.run_docker("run", "-i", "--rm", busybox, "wc", "-c", input=data, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(len(data)).encode()
