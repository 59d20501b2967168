"""Container events (create, start, attach, die, stop, kill, pause,
unpause, rename, destroy, ...): a bounded in-memory log for `since`, fanned
out to live subscribers."""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ContainerEvent:
    action: str
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_ns: int = field(default_factory=time.time_ns)


class Events:
    def __init__(self, keep: int = 2048) -> None:
        self._log: collections.deque[ContainerEvent] = collections.deque(maxlen=keep)
        self._subs: set[queue.SimpleQueue[ContainerEvent | None]] = set()
        self._lock = threading.Lock()

    def emit(self, action: str, cid: str, **attributes: str) -> None:
        event = ContainerEvent(action, cid, {k: v for k, v in attributes.items() if v != ""})
        with self._lock:
            self._log.append(event)
            for sub in self._subs:
                sub.put(event)

    def subscribe(self, since_ns: int = 0, until_ns: int = 0,
                  cancelled: threading.Event | None = None) -> Iterator[ContainerEvent]:
        sub: queue.SimpleQueue[ContainerEvent | None] = queue.SimpleQueue()
        with self._lock:
            past = [e for e in self._log if since_ns and e.time_ns >= since_ns]
            self._subs.add(sub)
        try:
            for event in past:
                if until_ns and event.time_ns > until_ns:
                    return
                yield event
            while not (cancelled is not None and cancelled.is_set()):
                now = time.time_ns()
                if until_ns and now >= until_ns:
                    return
                # A bounded wait only so that `until` and cancellation are
                # honoured; events themselves arrive through the queue.
                timeout = 1.0 if not until_ns else max(min(1.0, (until_ns - now) / 1e9), 0.001)
                try:
                    event = sub.get(timeout=timeout)
                except queue.Empty:
                    continue
                if event is None or (until_ns and event.time_ns > until_ns):
                    return
                yield event
        finally:
            with self._lock:
                self._subs.discard(sub)

    def close(self) -> None:
        with self._lock:
            for sub in self._subs:
                sub.put(None)
