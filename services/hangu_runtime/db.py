"""One SQLite database (SQLModel) per service, in WAL mode so readers never
wait for the writer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
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

    (metadata or SQLModel.metadata).create_all(engine)
    return engine
