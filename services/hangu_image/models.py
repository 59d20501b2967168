"""Image service metadata in SQLite (SQLModel): images, the references
(tags and digests) that name them, layers with reference counts, and the
container root filesystems built on them.

The tables are created in a MetaData of their own, so the image database
holds only the image service's tables even when other services' models are
imported in the same process (tests)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from sqlalchemy import MetaData
from sqlalchemy.engine import Engine
from sqlmodel import Field, SQLModel

from hangu_runtime.db import open_database


class ImageRecord(SQLModel, table=True):
    __tablename__ = "img_images"
    id: str = Field(primary_key=True)  # sha256:<config digest>
    created: str = ""  # from the config, RFC 3339
    size: int = 0  # sum of uncompressed layer sizes
    os: str = "linux"
    architecture: str = ""
    variant: str = ""
    chain_ids_json: str = "[]"  # base first
    manifest_digest: str = ""
    parent: str = Field(default="", index=True)
    # A build step's cache key (cachekey.py); "" for images no build made.
    cache_key: str = Field(default="", index=True)
    added: float = Field(default_factory=time.time)
    last_tag_time: float = 0.0

    @property
    def chain_ids(self) -> list[str]:
        return list(json.loads(self.chain_ids_json))


class RefRecord(SQLModel, table=True):
    __tablename__ = "img_refs"
    name: str = Field(primary_key=True)  # docker.io/library/busybox:latest or ...@sha256:
    image_id: str = Field(index=True)
    is_digest: bool = False
    added: float = Field(default_factory=time.time)


class LayerRecord(SQLModel, table=True):
    __tablename__ = "img_layers"
    chain_id: str = Field(primary_key=True)
    diff_id: str = ""
    parent: str = ""
    size: int = 0
    link: str = ""  # short name under <image root>/l/
    refcount: int = 0  # images that use this layer
    blob_digest: str = ""  # compressed blob it came from, if known


class RootfsRecord(SQLModel, table=True):
    __tablename__ = "img_rootfs"
    container_id: str = Field(primary_key=True)
    image_id: str = Field(index=True)
    chain_ids_json: str = "[]"  # lower layers, base first
    added: float = Field(default_factory=time.time)

    @property
    def chain_ids(self) -> list[str]:
        return list(json.loads(self.chain_ids_json))


TABLES = (ImageRecord, RefRecord, LayerRecord, RootfsRecord)


def open_image_db(path: Path) -> Engine:
    own = MetaData()
    for model in TABLES:
        model.__table__.to_metadata(own)  # type: ignore[union-attr]
    return open_database(path, own)
