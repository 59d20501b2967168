"""One SQLite database (SQLModel) per service, in WAL mode so readers never
wait for the writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.schema import Column, MetaData
from sqlmodel import SQLModel, create_engine


def open_database(path: Path, metadata: Any = None) -> Engine:
    """Create (if needed) and open the database at `path`; create tables of
    `metadata` (default: every SQLModel table imported so far)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{path}", connect_args={"check_same_thread": False, "timeout": 30}
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    meta = metadata or SQLModel.metadata
    meta.create_all(engine)
    add_missing_columns(engine, meta)
    return engine


def add_missing_columns(engine: Engine, metadata: MetaData | Any) -> None:
    """Columns a newer release added to an existing table, added in place
    with their Python default, so an older database opens as it is (create_all
    makes missing tables only)."""
    have = inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            if not have.has_table(table.name):
                continue
            present = {c["name"] for c in have.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    conn.execute(text(_add_column_sql(table.name, column)))


def _add_column_sql(table: str, column: Column[Any]) -> str:
    kind = column.type.compile(dialect=_SQLITE)
    default = getattr(column.default, "arg", None)
    if callable(default) or default is None:
        literal = "''" if kind.startswith("VARCHAR") else "0"
    elif isinstance(default, bool):
        literal = str(int(default))
    elif isinstance(default, int | float):
        literal = repr(default)
    else:
        literal = "'" + str(default).replace("'", "''") + "'"
    return f'ALTER TABLE "{table}" ADD COLUMN "{column.name}" {kind} NOT NULL DEFAULT {literal}'


_SQLITE = sqlite.dialect()
