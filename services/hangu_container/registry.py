"""The live set of containers: records in memory (written through to the
database), lookup by id, unique id prefix or name, and one condition
variable on which Wait, attach and stop sleep until a container changes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from hangu_runtime.errors import Conflict, InvalidArgument, NotFound

from .model import Container
from .sessions import AttachSession
from .store import Store


@dataclass
class Live:
    ctr: Container
    # Serializes start/exit-cleanup/remove of one container.
    lock: threading.RLock = field(default_factory=threading.RLock)
    exits: int = 0  # how many exits this service has seen
    starts: int = 0
    removed: bool = False
    waiting: list[AttachSession] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.ctr.id

    @property
    def running(self) -> bool:
        return self.ctr.state.running


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.cond = threading.Condition()
        self._by_id: dict[str, Live] = {}
        self._by_name: dict[str, str] = {}

    def load(self) -> list[Live]:
        for ctr in self.store.load_all():
            self._by_id[ctr.id] = Live(ctr)
            self._by_name[ctr.name] = ctr.id
        return list(self._by_id.values())

    def all(self) -> list[Live]:
        with self.cond:
            return list(self._by_id.values())

    def names(self) -> set[str]:
        with self.cond:
            return set(self._by_name)

    def get(self, cid: str) -> Live | None:
        return self._by_id.get(cid)

    def lookup(self, ref: str) -> Live:
        """Full id, then exact name, then unique id prefix (dockerd's order)."""
        with self.cond:
            if ref in self._by_id:
                return self._by_id[ref]
            name = ref.lstrip("/")
            if name in self._by_name:
                return self._by_id[self._by_name[name]]
            if ref and all(c in "0123456789abcdef" for c in ref):
                matches = [cid for cid in self._by_id if cid.startswith(ref)]
                if len(matches) == 1:
                    return self._by_id[matches[0]]
                if len(matches) > 1:
                    raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
        raise NotFound(f"No such container: {ref}")

    def exists(self, ref: str) -> bool:
        try:
            self.lookup(ref)
        except NotFound:
            return False
        return True

    def reserve(self, name: str, cid: str) -> None:
        with self.cond:
            other = self._by_name.get(name)
            if other is not None:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{other}". You have to remove (or rename) that container to be able to '
                    "reuse that name."
                )
            self._by_name[name] = cid

    def release(self, name: str, cid: str) -> None:
        with self.cond:
            if self._by_name.get(name) == cid:
                del self._by_name[name]

    def add(self, live: Live) -> None:
        with self.cond:
            self._by_id[live.id] = live
            self._by_name[live.ctr.name] = live.id

    def drop(self, live: Live) -> None:
        with self.cond:
            self._by_id.pop(live.id, None)
            if self._by_name.get(live.ctr.name) == live.id:
                del self._by_name[live.ctr.name]
            live.removed = True
            self.cond.notify_all()

    def save(self, live: Live) -> None:
        self.store.save(live.ctr)
        self.notify()

    def notify(self) -> None:
        with self.cond:
            self.cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout)
