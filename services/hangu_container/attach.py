"""A client of conmon's attach socket.

SOCK_SEQPACKET. Each message conmon sends is one read of the container's
output, prefixed by one byte naming the pipe (2 stdout, 3 stderr). What we
send is written raw to the container's stdin. Shutting down our write side
makes conmon close the container's stdin (unless it runs with
--leave-stdin-open): that is how a client's EOF reaches the process. conmon
closes the socket once the container has exited and its output is drained.

Descriptor ownership: the socket is closed exactly once, by `close()`, and
only once no thread can still be in `recv`/`send` on it (the session's
reader thread calls it after joining the writer). Closing a descriptor
that another thread is blocked on does not wake that thread on Linux, and
it frees the number for reuse (by gRPC's epoll, another attach socket...)
while a thread may still be about to use it. Other threads therefore only
ever `shutdown()` the socket (which does wake blocked threads), under the
lock and never after `close()`."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

STDOUT = 2
STDERR = 3

# conmon reads at most CONN_SOCK_BUF_SIZE - 1 (32767) bytes per message; a
# longer SEQPACKET message would be truncated.
MAX_MESSAGE = 32000


class AttachConnection:
    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self._write_closed = False
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            # The socket path can exceed sun_path's 108 bytes: connect
            # through an O_PATH descriptor of its directory.
            dir_fd = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
            try:
                self.sock.connect(f"/proc/self/fd/{dir_fd}/{path.name}")
            finally:
                os.close(dir_fd)
        except OSError:
            self.close()
            raise

    def recv(self) -> tuple[int, bytes] | None:
        """(pipe, data), or None once conmon has closed the socket (or we
        shut it down)."""
        try:
            msg = self.sock.recv(65536)
        except OSError:
            return None
        if not msg:
            return None
        return msg[0], msg[1:]

    def send(self, data: bytes) -> None:
        """Blocking; raises OSError once the peer is gone or we shut down."""
        view = memoryview(data)
        while view:
            n = self.sock.send(view[:MAX_MESSAGE])
            view = view[n:]

    def _shutdown(self, how: int) -> None:
        with self._lock:
            if self._closed:
                return
            with contextlib.suppress(OSError):
                self.sock.shutdown(how)

    def close_stdin(self) -> None:
        """Our write side: conmon sees the client's EOF."""
        with self._lock:
            if self._write_closed:
                return
            self._write_closed = True
        self._shutdown(socket.SHUT_WR)

    def abort(self) -> None:
        """Both sides: wakes a thread blocked in recv or send. Any thread."""
        self._shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Idempotent; only by the owner, once no thread uses the socket."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.sock.close()
