"""The classic builder's layer cache: a step is cached when an image made
by the same step exists, a child of the same parent whose container_config
(the step's identity: its command or `#(nop)` comment, with the build args
and, for COPY and ADD, the sources' checksum) is the same. Newest wins."""

from __future__ import annotations

from sqlmodel import Session, col, select

from ..images import ImageStore
from ..models import ImageRecord
from .imageconfig import cache_identity


def probe(store: ImageStore, parent_id: str, identity: str) -> str | None:
    """The image id of a cached step on `parent_id` ("" for scratch)."""
    with Session(store.engine) as s:
        children = s.exec(
            select(ImageRecord)
            .where(ImageRecord.parent == parent_id)
            .order_by(col(ImageRecord.created).desc())
        ).all()
    for rec in children:
        _, config = store.config_of(rec.id)
        built = config.get("container_config")
        if not isinstance(built, dict) or cache_identity(built) != identity:
            continue
        if all(store.layers.exists(c) for c in rec.chain_ids):
            return rec.id
    return None
