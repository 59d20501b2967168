"""Image events (pull, tag, untag, delete, load, import, ...), kept in a
bounded in-memory log for `since` and fanned out live to subscribers."""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ImageEvent:
    action: str
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_ns: int = field(default_factory=time.time_ns)


class EventBus:
    def __init__(self, keep: int = 1024) -> None:
        self._log: collections.deque[ImageEvent] = collections.deque(maxlen=keep)
        self._subs: set[queue.SimpleQueue[ImageEvent | None]] = set()
        self._lock = threading.Lock()

    def emit(self, action: str, id_: str, **attributes: str) -> ImageEvent:
        event = ImageEvent(action, id_, {k: v for k, v in attributes.items() if v})
        with self._lock:
            self._log.append(event)
            for sub in self._subs:
                sub.put(event)
        return event

    def subscribe(self, since_ns: int = 0, until_ns: int = 0,
                  stop: threading.Event | None = None) -> Iterator[ImageEvent]:
        """Past events since `since_ns` (if given), then live ones until
        `until_ns` (0: forever) or until `stop` is set."""
        sub: queue.SimpleQueue[ImageEvent | None] = queue.SimpleQueue()
        with self._lock:
            past = [e for e in self._log if since_ns and e.time_ns >= since_ns]
            self._subs.add(sub)
        try:
            for event in past:
                if until_ns and event.time_ns > until_ns:
                    return
                yield event
            while True:
                now = time.time_ns()
                if until_ns and now >= until_ns:
                    return
                if stop is not None and stop.is_set():
                    return
                wait = 1.0 if not until_ns else min(1.0, (until_ns - now) / 1e9)
                try:
                    item = sub.get(timeout=max(wait, 0.001))
                except queue.Empty:
                    continue
                if item is None:
                    return
                if until_ns and item.time_ns > until_ns:
                    return
                yield item
        finally:
            with self._lock:
                self._subs.discard(sub)

    def close(self) -> None:
        with self._lock:
            for sub in self._subs:
                sub.put(None)
