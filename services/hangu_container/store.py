"""Persistence of container records (write-through; the registry keeps the
live copy in memory). A database written by an earlier version is
converted once, at startup (migration.py)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from hangu_runtime.db import open_database

from .model import Container
from .models import ContainerRecord

_CONTAINER: TypeAdapter[Container] = TypeAdapter(Container)

# Built once, executed with bound values: building the statement per save
# (and its cache key) cost more than sqlite's work.
_INSERT = sqlite_insert(ContainerRecord)
_UPSERT = _INSERT.on_conflict_do_update(
    index_elements=["id"], set_={"name": _INSERT.excluded.name, "doc": _INSERT.excluded.doc}
)


def encode(ctr: Container) -> str:
    return _CONTAINER.dump_json(ctr).decode()


def decode(doc: str) -> Container:
    return _CONTAINER.validate_json(doc)


class _OnlyOurs:
    """Only our table: other services' SQLModel tables share the global
    metadata when they are imported into one process (tests)."""

    @property
    def sorted_tables(self) -> list[Any]:
        return [ContainerRecord.__table__]  # type: ignore[attr-defined]  # SQLModel sets it

    def create_all(self, engine: Any) -> None:
        for table in self.sorted_tables:
            table.create(engine, checkfirst=True)


class Store:
    def __init__(self, path: Path) -> None:
        self.engine = open_database(path, _OnlyOurs())
        self._lock = threading.Lock()

    def load_all(self) -> list[Container]:
        with Session(self.engine) as s:
            return [decode(r.doc) for r in s.exec(select(ContainerRecord)).all()]

    def save(self, ctr: Container) -> None:
        """One upsert statement (every state change writes through: no ORM
        merge, which reads the row first)."""
        values = {"id": ctr.id, "name": ctr.name, "doc": encode(ctr)}
        with self._lock, self.engine.begin() as conn:
            conn.execute(_UPSERT, values)

    def delete(self, cid: str) -> None:
        with self._lock, Session(self.engine) as s:
            row = s.get(ContainerRecord, cid)
            if row is not None:
                s.delete(row)
                s.commit()
