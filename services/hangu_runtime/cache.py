"""Records read once and then served from memory, written through by the
one object that owns them (the network service's attachments, sandboxes
and name tables): on hot paths such as `network connect` a database read
costs more than the kernel's work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class RecordCache(Generic[K, V]):
    """Values by key, loaded on first use. Every write goes through keep()
    or clear(), which bump a generation: a load that raced a write may
    have read what was there before it, so it is returned but not kept."""

    def __init__(self) -> None:
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()
        self._generation = 0

    def get(self, key: K, load: Callable[[K], V | None]) -> V | None:
        """The value, loaded with `load` when not held (None: there is none;
        an exception of `load` passes through)."""
        with self._lock:
            found = self._items.get(key)
            generation = self._generation
        if found is not None:
            return found
        found = load(key)
        if found is not None:
            with self._lock:
                if generation == self._generation:
                    self._items[key] = found
        return found

    def keep(self, key: K, value: V | None) -> None:
        """After a write: the value as it now is (None: gone, or read it
        again on next use)."""
        with self._lock:
            self._generation += 1
            if value is None:
                self._items.pop(key, None)
            else:
                self._items[key] = value

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._items.clear()
