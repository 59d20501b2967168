"""An iterator read ahead in a thread of its own: a gRPC request stream
receives its next message only when asked, so a consumer that works on
each message (unpacking a build context) would otherwise wait for the wire
and the wire for it, one after the other."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_END = object()


class _Failed:
    def __init__(self, err: BaseException) -> None:
        self.err = err


def read_ahead(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """`items`, with up to `depth` of them fetched before they are asked for.
    A consumer that stops early lets the reader thread go at its next item."""
    ready: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as err:  # handed to the consumer, raised there
            put(_Failed(err))

    threading.Thread(target=pump, name="read-ahead", daemon=True).start()
    try:
        while True:
            item = ready.get()
            if item is _END:
                return
            if isinstance(item, _Failed):
                raise item.err
            yield item  # type: ignore[misc]
    finally:
        stop.set()
