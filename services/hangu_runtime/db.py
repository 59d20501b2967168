"""One SQLite database (SQLModel) per service, in WAL mode so readers never
wait for the writer."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, inspect, text
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


class Writes:
    """Rows to insert and rows to delete (by primary key), collected while
    a multi-step operation runs (a `network connect`: an attachment, an
    address, an endpoint) and committed in order as one transaction at its
    end. Nothing is written before: a sqlite write lock is never held while
    the operation waits for the kernel or for another lock (whose holder
    may in turn wait on sqlite).

    Written on the driver's own connection with each table's INSERT and
    DELETE made once: SQLAlchemy's statement execution and pydantic's dump
    cost ten times sqlite's own work on these paths. So the rows' columns
    must be plain values (str, int, float, bool), as the network service's
    are; the rows stay plain objects, outside any session."""

    def __init__(self) -> None:
        self._ops: list[tuple[bool, SQLModel]] = []  # (insert?, row)

    def insert(self, *rows: SQLModel) -> None:
        self._ops.extend((True, row) for row in rows)

    def delete(self, *rows: SQLModel) -> None:
        """Rows with (at least) their primary key set; a missing one is fine."""
        self._ops.extend((False, row) for row in rows)

    def commit(self, engine: Engine) -> None:
        if not self._ops:
            return
        conn = engine.raw_connection()
        try:
            cursor = conn.cursor()
            for (insert_, table), ops in itertools.groupby(
                self._ops, key=lambda op: (op[0], _table(op[1]))
            ):
                sql, columns = _statement(table, insert_)
                cursor.executemany(sql, [tuple(getattr(r, c) for c in columns) for _, r in ops])
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()  # back to the pool
        self._ops.clear()


_STATEMENTS: dict[tuple[str, bool], tuple[str, list[str]]] = {}


def _table(row: SQLModel) -> Table:
    table: Table = row.__table__  # type: ignore[attr-defined]  # SQLModel sets it
    return table


def _statement(table: Table, insert_: bool) -> tuple[str, list[str]]:
    """The SQL of an insert of every column or a delete by primary key,
    with the columns whose values it takes, in order."""
    key = (table.name, insert_)
    found = _STATEMENTS.get(key)
    if found is None:
        if insert_:
            columns = [c.name for c in table.columns]
            names = ", ".join(f'"{c}"' for c in columns)
            marks = ", ".join("?" for _ in columns)
            sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
        else:
            columns = [c.name for c in table.primary_key.columns]
            where = " AND ".join(f'"{c}" = ?' for c in columns)
            sql = f'DELETE FROM "{table.name}" WHERE {where}'
        found = _STATEMENTS[key] = (sql, columns)
    return found
