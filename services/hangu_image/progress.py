"""Progress messages in the shape of Docker's jsonmessage, and a throttle so
byte-count updates do not flood the stream."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class PushedTag:
    """A push's result for one tag (Docker's aux {"Tag", "Digest", "Size"})."""

    tag: str
    digest: str
    size: int


@dataclass(frozen=True)
class ProgressEvent:
    id: str = ""
    status: str = ""
    current: int = 0
    total: int = 0
    error: str = ""
    stream: str = ""
    detail: bool = False  # a per-item update: see Progress.detail in image.proto
    pushed: PushedTag | None = None
    built_id: str = ""  # aux {"ID": ...}: the image a build (or stage) made
    error_code: int = 0  # errorDetail.code


Emit = Callable[[ProgressEvent], None]


class StopFlag:
    """An operation's own stop flag, also set when its `parent` is (the
    client went away); setting it never sets the parent."""

    def __init__(self, parent: threading.Event | None = None) -> None:
        self.own = threading.Event()
        self.parent = parent

    def set(self) -> None:
        self.own.set()

    def is_set(self) -> bool:
        return self.own.is_set() or (self.parent is not None and self.parent.is_set())


class Throttled:
    """Calls `emit` with a byte count at most every `interval` seconds."""

    def __init__(
        self,
        emit: Callable[[int], None],
        interval: float = 0.1,
        cancel: threading.Event | StopFlag | None = None,
    ) -> None:
        self.emit = emit
        self.interval = interval
        self.last = 0.0
        self.cancel = cancel

    def __call__(self, count: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("operation cancelled")
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.emit(count)


class Cancelled(Exception):
    pass


class CountingReader(io.RawIOBase):
    """File wrapper that reports how many bytes were read through it."""

    def __init__(self, src: BinaryIO, on_progress: Callable[[int], None]) -> None:
        self.src = src
        self.count = 0
        self.on_progress = on_progress

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.src.read(len(buf))
        n = len(data)
        buf[:n] = data
        self.count += n
        self.on_progress(self.count)
        return n

    def readable(self) -> bool:
        return True
