"""The seed walkthrough, interactive: `docker run -it REGISTRY/busybox sh`
through a pseudo-terminal, with the pull it triggers, then `docker start
-ai` of the same container."""

from __future__ import annotations

import re

import pexpect

from tests.support.stack import DOCKER, Stack
from tests.support.terminal import Terminal

PROMPT = r"/ # "


def _spawn(stack: Stack, *args: str) -> Terminal:
    return Terminal([DOCKER, *args], env=stack.env, rows=24, cols=100, timeout=60)


def test_run_it_pulls_and_gives_a_terminal(stack: Stack, pull_ref: str) -> None:
    child = _spawn(stack, "run", "-it", "--name", "seed", pull_ref, "sh")
    try:
        child.expect(f"Unable to find image '{re.escape(pull_ref)}:latest' locally")
        child.expect("latest: Pulling from busybox")
        # Docker's progress display in a terminal: one line per layer,
        # redrawn in place with cursor movements (ESC[1A, ESC[2K, ESC[1B).
        child.expect(r"[0-9a-f]{12}: (Pulling fs layer|Already exists)")
        child.expect(r"[0-9a-f]{12}: (Pull complete|Already exists)")
        # Whole lines (after a newline, carriage return or cursor movement),
        # never text inside a progress line that the next one overwrites.
        line_start = r"(?:[\r\n]|\x1b\[\d*[A-Za-z])"
        # (ends at "\r": the "\n" after it starts the next line)
        child.expect(line_start + r"Digest: sha256:[0-9a-f]{64}\r")
        child.expect(
            line_start
            + "Status: Downloaded newer image for "
            + re.escape(pull_ref)
            + r":latest *\r"
        )
        child.expect(PROMPT)
        child.sendline("echo hi")
        child.expect("\r\nhi\r\n")
        child.expect(PROMPT)
        child.sendline("hostname")
        child.expect(r"\r\n([0-9a-f]{12})\r\n")
        hostname = child.match.group(1)
        child.expect(PROMPT)
        child.sendline("ip addr")
        child.expect(r"inet (10\.203\.\d+\.\d+)/\d+")
        ip = child.match.group(1)
        child.expect(PROMPT)
        child.sendline("ls /")
        child.expect("bin")
        child.expect(PROMPT)
        # Line editing: a backspace typed at the terminal is handled by the shell.
        child.send("echo abX\x7fc\r")
        child.expect("\r\nabc\r\n")
        child.expect(PROMPT)
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before

    inspect = stack.run_docker(
        "inspect", "--format", "{{.Id}}|{{.State.Status}}|{{.NetworkSettings.IPAddress}}", "seed"
    )
    # "|"-separated: the address is empty once the container has exited.
    cid, status, inspect_ip = inspect.stdout.strip().split("|")
    assert cid.startswith(hostname)
    assert status == "exited"
    assert inspect_ip in ("", ip)  # released on exit, or still shown as dockerd does

    child = _spawn(stack, "start", "-ai", cid)
    try:
        child.expect(PROMPT)
        child.sendline("echo again")
        child.expect("\r\nagain\r\n")
        child.expect(PROMPT)
        child.sendline("exit 0")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert stack.run_docker("rm", "seed").returncode == 0
