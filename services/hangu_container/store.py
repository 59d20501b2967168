"""Persistence of container records (write-through; the manager keeps the
live copy in memory)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlmodel import Session, select

from hangu_runtime.db import open_database

from .models import ContainerRow


class _OnlyOurs:
    def create_all(self, engine: object) -> None:
        ContainerRow.__table__.create(engine, checkfirst=True)  # type: ignore[attr-defined]


class Store:
    def __init__(self, path: Path) -> None:
        # Only our table: other services' SQLModel tables share the global
        # metadata when they are imported into one process (tests).
        self.engine = open_database(path, _OnlyOurs())
        self._lock = threading.Lock()

    def load_all(self) -> list[ContainerRow]:
        with Session(self.engine, expire_on_commit=False) as s:
            rows = list(s.exec(select(ContainerRow)).all())
            for row in rows:
                s.expunge(row)
            return rows

    def save(self, row: ContainerRow) -> None:
        data = row.model_dump()
        with self._lock, Session(self.engine) as s:
            s.merge(ContainerRow(**data))
            s.commit()

    def delete(self, cid: str) -> None:
        with self._lock, Session(self.engine) as s:
            row = s.get(ContainerRow, cid)
            if row is not None:
                s.delete(row)
                s.commit()
