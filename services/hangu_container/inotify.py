"""A minimal inotify binding (ctypes): the container service waits for
conmon's exit files and for log growth with it, instead of polling."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
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
    """One inotify instance; `read()` blocks until events arrive (or the
    instance is closed from another thread: then it yields nothing)."""

    def __init__(self, nonblocking: bool = False) -> None:
        flags = IN_CLOEXEC | (IN_NONBLOCK if nonblocking else 0)
        fd = _libc.inotify_init1(flags)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd: int = fd
        # A pipe to wake a blocked reader when closing.
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC)

    def add_watch(self, path: str, mask: int) -> int:
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
        return int(wd)

    def wait(self, timeout: float | None = None) -> bool:
        """True when events are ready, False on timeout or close."""
        import select
        ready, _, _ = select.select([self.fd, self._wake_r], [], [], timeout)
        return self.fd in ready and self._wake_r not in ready

    def read(self, timeout: float | None = None) -> Iterator[tuple[int, int, str]]:
        """(wd, mask, name) for each pending event."""
        if not self.wait(timeout):
            return
        try:
            data = os.read(self.fd, 64 * 1024)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = data[offset:offset + length].rstrip(b"\0").decode(errors="replace")
            offset += length
            yield wd, mask, name

    def wake(self) -> None:
        """Make a blocked `wait`/`read` in another thread return."""
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    def close(self) -> None:
        """Only once no thread waits on this instance any more."""
        for fd in (self.fd, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
