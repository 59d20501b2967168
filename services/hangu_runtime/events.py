"""A service's Docker events: a bounded in-memory log (for `since`) fanned
out to live subscribers, and the Events RPC every service serves from it.

Subscribers get events through their own queue as they are emitted; the
only timed wait is there so `until` and a client leaving are noticed."""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc

from hangu.types.v1 import types_pb2

from .times import ns_from_timestamp, timestamp_from_ns


@dataclass(frozen=True)
class Event:
    action: str
    id: str
    attributes: dict[str, str] = field(default_factory=dict)
    time_ns: int = field(default_factory=time.time_ns)


class EventBus:
    def __init__(self, keep: int = 2048) -> None:
        self._log: collections.deque[Event] = collections.deque(maxlen=keep)
        self._subs: set[queue.SimpleQueue[Event | None]] = set()
        self._lock = threading.Lock()

    def emit(self, action: str, id_: str, **attributes: str) -> Event:
        """Record and deliver one event; empty attributes are left out."""
        event = Event(action, id_, {k: v for k, v in attributes.items() if v})
        with self._lock:
            self._log.append(event)
            for sub in self._subs:
                sub.put(event)
        return event

    def subscribe(
        self, since_ns: int = 0, until_ns: int = 0, stop: threading.Event | None = None
    ) -> Iterator[Event]:
        """Past events since `since_ns` (if given), then live ones until
        `until_ns` (0: forever), `stop` is set, or the bus closes."""
        sub: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        with self._lock:
            past = [e for e in self._log if since_ns and e.time_ns >= since_ns]
            self._subs.add(sub)
        try:
            for event in past:
                if until_ns and event.time_ns > until_ns:
                    return
                yield event
            while not (stop is not None and stop.is_set()):
                now = time.time_ns()
                if until_ns and now >= until_ns:
                    return
                wait = 1.0 if not until_ns else min(1.0, (until_ns - now) / 1e9)
                try:
                    item = sub.get(timeout=max(wait, 0.001))
                except queue.Empty:
                    continue
                if item is None or (until_ns and item.time_ns > until_ns):
                    return
                yield item
        finally:
            with self._lock:
                self._subs.discard(sub)

    def close(self) -> None:
        """End every subscription (service shutdown)."""
        with self._lock:
            for sub in self._subs:
                sub.put(None)


def serve_events(
    bus: EventBus, request: types_pb2.EventsRequest, context: grpc.ServicerContext
) -> Iterator[types_pb2.Event]:
    """The Events RPC of any service (hangu.types.v1.EventsRequest/Event)."""
    stop = threading.Event()
    context.add_callback(stop.set)
    since = ns_from_timestamp(request.since) if request.HasField("since") else 0
    until = ns_from_timestamp(request.until) if request.HasField("until") else 0
    for event in bus.subscribe(since, until, stop):
        yield types_pb2.Event(
            action=event.action,
            id=event.id,
            attributes=event.attributes,
            time=timestamp_from_ns(event.time_ns),
        )
