"""open_database adds the columns a newer release defined to an older table;
Writes commits rows and deletions as one transaction, in order."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import registry
from sqlmodel import Field, Session, SQLModel, select

from hangu_runtime.db import Writes, open_database


class _Base(SQLModel, registry=registry()):
    pass


class _Pair(_Base, table=True):
    __tablename__ = "pairs"
    left: str = Field(primary_key=True)
    right: str = Field(primary_key=True)
    owner: str = ""


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


def _pairs(engine: Engine) -> set[tuple[str, str, str]]:
    with Session(engine) as s:
        return {(p.left, p.right, p.owner) for p in s.exec(select(_Pair))}


def test_writes_commit_in_order_as_one_transaction(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "w.db", _Base.metadata)
    first = Writes()
    first.insert(_Pair(left="n", right="10.0.0.2", owner="a"), _Pair(left="n", right="10.0.0.3"))
    first.insert(_Row(id="r1", name="x"))
    assert _pairs(engine) == set()  # nothing before the commit
    first.commit(engine)
    assert _pairs(engine) == {("n", "10.0.0.2", "a"), ("n", "10.0.0.3", "")}
    # A deletion by primary key, then a row with the same key (an address
    # taken over by a new owner), and a deletion of a row that is not there.
    again = Writes()
    again.delete(_Pair(left="n", right="10.0.0.2"))
    again.insert(_Pair(left="n", right="10.0.0.2", owner="b"))
    again.delete(_Pair(left="n", right="10.0.0.9"), _Row(id="r1"))
    again.commit(engine)
    assert _pairs(engine) == {("n", "10.0.0.2", "b"), ("n", "10.0.0.3", "")}
    with Session(engine) as s:
        assert s.exec(select(_Row)).all() == []
    engine.dispose()


def test_a_failed_write_leaves_nothing_of_the_transaction(tmp_path: Path) -> None:
    engine = open_database(tmp_path / "w.db", _Base.metadata)
    writes = Writes()
    writes.insert(_Pair(left="n", right="a"))
    writes.commit(engine)
    failing = Writes()
    failing.insert(_Pair(left="n", right="b"))
    failing.insert(_Pair(left="n", right="a"))  # taken: the whole commit fails
    with pytest.raises(sqlite3.IntegrityError):
        failing.commit(engine)
    assert _pairs(engine) == {("n", "a", "")}
    engine.dispose()
