"""The container service's database (SQLModel): one row per container, the
domain record (model.Container) as JSON. The service keeps every record in
memory and never queries inside one; the id and name columns are there for
a reader of the database (and the name's uniqueness)."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class ContainerRecord(SQLModel, table=True):
    __tablename__ = "container_records"

    id: str = Field(primary_key=True)
    name: str = Field(index=True, unique=True)
    doc: str = "{}"  # model.Container as JSON
