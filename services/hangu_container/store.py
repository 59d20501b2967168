"""Persistence of container records (write-through; the manager keeps the
live copy in memory)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from hangu_runtime.db import open_database

from .models import ContainerRow


class _OnlyOurs:
    def create_all(self, engine: Any) -> None:
        table = ContainerRow.__table__  # type: ignore[attr-defined]
        table.create(engine, checkfirst=True)
        # Columns added after a database was made: add them (SQLite's
        # ALTER TABLE ADD COLUMN, with the model's default).
        with engine.begin() as conn:
            have = {row[1] for row in conn.exec_driver_sql(f"PRAGMA table_info({table.name})")}
            for column in table.columns:
                if column.name in have:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = column.default.arg if column.default is not None else None
                conn.exec_driver_sql(
                    f"ALTER TABLE {table.name} ADD COLUMN {column.name} "
                    f"{kind} NOT NULL DEFAULT {_sql_literal(default)}"
                )


def _sql_literal(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return "X'" + value.hex() + "'"
    if isinstance(value, (bool, int)):
        return str(int(value))
    if isinstance(value, float):
        return repr(value)
    return "NULL"


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
