"""Raw file descriptors with one owner each.

An fd number is recycled by the kernel as soon as it is closed: a second
close() of the same int (an error path that closes what a finally block
closes again, a thread closing what another still reads) closes whatever
got that number meanwhile — gRPC's epoll instance, a pty, another
container's attach socket. `Fd` wraps one descriptor, is closed at most
once (thread-safe), and refuses use after close instead of touching a
recycled number. Every descriptor is created close-on-exec: only the fds
named in `pass_fds` reach conmon."""

from __future__ import annotations

import contextlib
import errno
import os
import threading


class Fd:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def fileno(self) -> int:
        fd = self._fd
        if fd < 0:
            raise OSError(errno.EBADF, "descriptor already closed")
        return fd

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def read(self, n: int) -> bytes:
        return os.read(self.fileno(), n)

    def write(self, data: bytes) -> int:
        return os.write(self.fileno(), data)

    def close(self) -> None:
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)

    def __enter__(self) -> Fd:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __del__(self) -> None:
        # A leak on an unforeseen path still ends in exactly one close.
        with contextlib.suppress(OSError):
            self.close()


def pipe() -> tuple[Fd, Fd]:
    """(read end, write end), both O_CLOEXEC."""
    r, w = os.pipe2(os.O_CLOEXEC)
    return Fd(r), Fd(w)
