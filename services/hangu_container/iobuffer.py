"""A bounded buffer of byte chunks between two threads of an attach session.

Both directions of an attach need back-pressure, not an unbounded queue:
stdin from a client that writes faster than the container reads (20 MB
piped into `md5sum`), and output for a client that reads slower than the
container writes. A full buffer blocks the producer (the thread reading
the gRPC request stream, or the one reading conmon's attach socket) and
so pushes back to gRPC's flow control or to conmon, which then stops
reading the container's pipe. The buffer counts bytes; an item of size 0
(the exit code) always fits.

`finish()` ends the input: the consumer still gets what is queued, then
None. `abort()` drops everything: blocked producers return False at once
and the consumer gets None."""

from __future__ import annotations

import threading
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")

DEFAULT_LIMIT = 1 << 20


class BoundedBuffer(Generic[T]):
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._items: deque[tuple[T, int]] = deque()
        self._size = 0
        self._cond = threading.Condition()
        self._finished = False
        self._aborted = False

    def put(self, item: T, size: int, block: bool = True, timeout: float | None = None) -> bool:
        """Queue `item` (of `size` bytes), waiting for room unless `block`
        is false. False once the buffer is finished or aborted; TimeoutError
        if there is still no room after `timeout` seconds."""
        with self._cond:
            while (
                block
                and self._size > 0
                and self._size + size > self.limit
                and not (self._finished or self._aborted)
            ):
                if not self._cond.wait(timeout) and (
                    self._size > 0
                    and self._size + size > self.limit
                    and not (self._finished or self._aborted)
                ):
                    raise TimeoutError
            if self._finished or self._aborted:
                return False
            self._items.append((item, size))
            self._size += size
            self._cond.notify_all()
            return True

    def get(self) -> T | None:
        """The next item; None once finished and drained, or aborted."""
        with self._cond:
            while not self._items and not (self._finished or self._aborted):
                self._cond.wait()
            if self._aborted or not self._items:
                return None
            item, size = self._items.popleft()
            self._size -= size
            self._cond.notify_all()
            return item

    def get_nowait(self) -> tuple[bool, T | None]:
        """(True, item) if an item is queued now, else (False, None)."""
        with self._cond:
            if self._aborted or not self._items:
                return False, None
            item, size = self._items.popleft()
            self._size -= size
            self._cond.notify_all()
            return True, item

    def peek_ready(self) -> bool:
        with self._cond:
            return bool(self._items) and not self._aborted

    def finish(self) -> None:
        with self._cond:
            self._finished = True
            self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._aborted = True
            self._items.clear()
            self._size = 0
            self._cond.notify_all()

    @property
    def finished(self) -> bool:
        return self._finished and not self._aborted

    @property
    def aborted(self) -> bool:
        return self._aborted

    @property
    def size(self) -> int:
        with self._cond:
            return self._size
