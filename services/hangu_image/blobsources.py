"""Which registry repositories hold a blob, learnt from pulls and pushes
(dockerd's "v2 metadata"), so a push can mount a blob from another
repository of the same registry instead of uploading it again."""

from __future__ import annotations

import threading
import time

from sqlalchemy import MetaData
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel, select

MAX_PER_BLOB = 8


class BlobSource(SQLModel, table=True):
    __tablename__ = "img_blob_sources"
    digest: str = Field(primary_key=True)
    host: str = Field(primary_key=True)  # "127.0.0.1:5000", "docker.io"
    repository: str = Field(primary_key=True)  # "library/busybox"
    seen: float = Field(default_factory=time.time)


class BlobSources:
    def __init__(self, engine: Engine, db_lock: threading.Lock) -> None:
        self.engine = engine
        self.db_lock = db_lock
        own = MetaData()
        BlobSource.__table__.to_metadata(own)  # type: ignore[attr-defined]
        own.create_all(engine)

    def add(self, digests: list[str], registry: str, repository: str) -> None:
        now = time.time()
        with self.db_lock, Session(self.engine) as s:
            for digest in digests:
                s.merge(BlobSource(digest=digest, host=registry, repository=repository, seen=now))
            s.commit()

    def candidates(self, digest: str, registry: str, exclude: str) -> list[str]:
        """Other repositories of `registry` known to hold `digest`, newest first."""
        with Session(self.engine) as s:
            rows = s.exec(
                select(BlobSource).where(BlobSource.digest == digest, BlobSource.host == registry)
            ).all()
        rows = sorted((r for r in rows if r.repository != exclude), key=lambda r: -r.seen)
        return [r.repository for r in rows[:MAX_PER_BLOB]]

    def forget(self, digest: str, registry: str, repository: str) -> None:
        """A mount that failed: the registry no longer has it there."""
        with self.db_lock, Session(self.engine) as s:
            row = s.get(BlobSource, (digest, registry, repository))
            if row is not None:
                s.delete(row)
                s.commit()
