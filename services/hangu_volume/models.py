"""The volume service's tables (SQLite, SQLModel)."""

from __future__ import annotations

import json
import time

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class VolumeBase(SQLModel, registry=registry()):
    """Own metadata: several services' tables may share a process in tests."""


class VolumeRow(VolumeBase, table=True):
    __tablename__ = "volumes"
    name: str = Field(primary_key=True)
    driver: str = "local"
    anonymous: bool = False
    labels_json: str = "{}"
    options_json: str = "{}"
    created: float = Field(default_factory=time.time)

    @property
    def labels(self) -> dict[str, str]:
        return dict(json.loads(self.labels_json))

    @property
    def options(self) -> dict[str, str]:
        return dict(json.loads(self.options_json))


class ReferenceRow(VolumeBase, table=True):
    """A container using a volume."""

    __tablename__ = "references"
    name: str = Field(primary_key=True)
    container_id: str = Field(primary_key=True)
    created: float = Field(default_factory=time.time)
