"""open_database adds the columns a newer release defined to an older table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, select

from hangu_runtime.db import open_database


class _Base(SQLModel, registry=registry()):
    pass


class _Row(_Base, table=True):
    __tablename__ = "rows"
    id: str = Field(primary_key=True)
    name: str = ""
    count: int = 3
    flag: bool = False
    items_json: str = "[]"


def test_old_table_gains_new_columns_with_their_defaults(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("create table rows (id varchar primary key)")
    con.execute("insert into rows values ('a')")
    con.commit()
    con.close()
    engine = open_database(tmp_path / "old.db", _Base.metadata)
    with Session(engine) as s:
        row = s.exec(select(_Row)).one()
        assert (row.id, row.name, row.count, row.flag, row.items_json) == ("a", "", 3, False, "[]")
        s.add(_Row(id="b", name="x", count=1, flag=True))
        s.commit()
    engine.dispose()
    # Opening again changes nothing.
    engine = open_database(tmp_path / "old.db", _Base.metadata)
    with Session(engine) as s:
        assert len(s.exec(select(_Row)).all()) == 2
    engine.dispose()
