"""A client of conmon's attach socket.

SOCK_SEQPACKET. Each message conmon sends is one read of the container's
output, prefixed by one byte naming the pipe (2 stdout, 3 stderr). What we
send is written raw to the container's stdin. Shutting down our write side
makes conmon close the container's stdin (unless it runs with
--leave-stdin-open): that is how a client's EOF reaches the process. conmon
closes the socket once the container has exited and its output is drained."""

from __future__ import annotations

import os
import socket
from pathlib import Path

STDOUT = 2
STDERR = 3


class AttachConnection:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        # The socket path can exceed sun_path's 108 bytes: connect through
        # an O_PATH descriptor of its directory.
        dir_fd = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
        try:
            self.sock.connect(f"/proc/self/fd/{dir_fd}/{path.name}")
        except OSError:
            self.sock.close()
            raise
        finally:
            os.close(dir_fd)
        self._write_closed = False

    def recv(self) -> tuple[int, bytes] | None:
        """(pipe, data), or None once conmon has closed the socket."""
        try:
            msg = self.sock.recv(65536)
        except OSError:
            return None
        if not msg:
            return None
        return msg[0], msg[1:]

    def send(self, data: bytes) -> None:
        # SEQPACKET keeps message boundaries; conmon reads up to 32 KiB at once.
        view = memoryview(data)
        while view:
            n = self.sock.send(view[:32000])
            view = view[n:]

    def close_stdin(self) -> None:
        if not self._write_closed:
            self._write_closed = True
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
