"""In-process event log for a service's Events stream: a bounded history (for
`since`) and a condition that wakes waiting streams at once (no polling)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventRecord:
    seq: int
    action: str
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time: float = 0.0


class EventLog:
    def __init__(self, keep: int = 1000) -> None:
        self._events: deque[EventRecord] = deque(maxlen=keep)
        self._cond = threading.Condition()
        self._seq = 0

    def emit(self, action: str, id: str, attributes: dict[str, str] | None = None) -> None:
        with self._cond:
            self._seq += 1
            self._events.append(EventRecord(self._seq, action, id, dict(attributes or {}),
                                            time.time()))
            self._cond.notify_all()

    def stream(self, since: float | None, until: float | None,
               alive: Callable[[], bool]) -> Iterator[EventRecord]:
        """Past events from `since`, then live ones until `until` (or until
        the client goes away)."""
        with self._cond:
            last = self._seq
            past = [e for e in self._events if since is not None and e.time >= since]
        for e in past:
            if until is not None and e.time > until:
                return
            yield e
        while alive():
            if until is not None and time.time() > until:
                return
            with self._cond:
                wait = 1.0 if until is None else max(0.0, min(1.0, until - time.time()))
                seen = last

                def fresh_seen() -> bool:
                    return self._seq > seen
                self._cond.wait_for(fresh_seen, timeout=wait)
                fresh = [e for e in self._events if e.seq > last]
                last = self._seq
            for e in fresh:
                if until is not None and e.time > until:
                    return
                yield e
