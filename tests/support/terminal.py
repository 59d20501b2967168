"""Programs driven through a pseudo-terminal, started without forking the
test process.

pexpect.spawn forks the whole pytest process. Once gRPC runs in it (service
tests in the same session), gRPC's fork handlers run in the child and, when
pexpect closes every fd before exec, its poller finds its epoll fd gone,
prints "epoll_wait error: Bad file descriptor" into the terminal and aborts
the child. Here subprocess starts the program (no Python runs between fork
and exec) under `setsid --ctty`, so the pty's slave is its controlling
terminal, and pexpect only reads and writes the master."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
from collections.abc import Mapping, Sequence
from typing import Any

from pexpect import fdpexpect


class Terminal:
    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        rows: int = 24,
        cols: int = 80,
        timeout: float = 60,
    ) -> None:
        master, slave = pty.openpty()
        self._master = master
        self.setwinsize(rows, cols)
        self.proc = subprocess.Popen(
            ["setsid", "--ctty", *argv], env=dict(env), stdin=slave, stdout=slave, stderr=slave
        )
        os.close(slave)
        self.child = fdpexpect.fdspawn(master, encoding="utf-8", timeout=timeout)
        self.exitstatus: int | None = None

    def setwinsize(self, rows: int, cols: int) -> None:
        """Resize; the kernel sends SIGWINCH to the terminal's foreground group."""
        fcntl.ioctl(self._master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def __getattr__(self, name: str) -> Any:
        # expect, expect_exact, send, sendline, before, match, ...
        return getattr(self.child, name)

    def close(self, timeout: float = 30) -> None:
        try:
            self.exitstatus = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exitstatus = self.proc.wait()
        finally:
            try:
                self.child.close()
            except OSError:
                pass
