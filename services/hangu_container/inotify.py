"""A minimal inotify binding (ctypes): the container service waits for
conmon's exit files and for log growth with it, instead of polling."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import struct
import threading
from collections.abc import Iterator

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE_SELF = 0x00000400
IN_Q_OVERFLOW = 0x00004000
IN_MOVE_SELF = 0x00000800
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_EVENT = struct.Struct("iIII")


class Inotify:
    """One inotify instance; `read()` blocks until events arrive (or
    `wake()` is called from another thread: then it yields nothing).

    `close()` is idempotent and must only run once no thread waits on the
    instance (callers join their reader first): closing an fd another
    thread is about to select() on lets that thread use a recycled number."""

    def __init__(self, nonblocking: bool = False) -> None:
        flags = IN_CLOEXEC | (IN_NONBLOCK if nonblocking else 0)
        fd = _libc.inotify_init1(flags)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd: int = fd
        self._lock = threading.Lock()
        # A pipe to wake a blocked reader when closing.
        try:
            self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)
        except OSError:
            os.close(fd)
            raise

    def add_watch(self, path: str, mask: int) -> int:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return int(wd)

    def wait(self, timeout: float | None = None) -> bool:
        """True when events are ready, False on timeout, wake or close."""
        if self.fd < 0:
            return False
        ready, _, _ = select.select([self.fd, self._wake_r], [], [], timeout)
        return self.fd in ready and self._wake_r not in ready

    def read(self, timeout: float | None = None) -> Iterator[tuple[int, int, str]]:
        """(wd, mask, name) for each pending event."""
        if not self.wait(timeout):
            return
        try:
            data = os.read(self.fd, 64 * 1024)
        except (BlockingIOError, OSError):
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = data[offset : offset + length].rstrip(b"\0").decode(errors="replace")
            offset += length
            yield wd, mask, name

    def wake(self) -> None:
        """Make a blocked `wait`/`read` in another thread return."""
        with self._lock:
            if self._wake_w < 0:
                return
            with contextlib.suppress(OSError):
                os.write(self._wake_w, b"x")

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def close(self) -> None:
        """Idempotent. Only once no thread waits on this instance any more."""
        with self._lock:
            fds = (self.fd, self._wake_r, self._wake_w)
            self.fd = self._wake_r = self._wake_w = -1
        for fd in fds:
            if fd >= 0:
                os.close(fd)

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
