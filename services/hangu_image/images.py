"""Image metadata: registering images, the tag/digest references that name
them, and resolving a user's reference the way dockerd's GetImage does
(name[:tag] or name@digest first, then full id, then a unique id prefix)."""

from __future__ import annotations

import fnmatch
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from hangu_runtime.errors import InvalidArgument, NotFound
from hangu_runtime.events import EventBus

from .cachekey import cache_key_of
from .content import ContentStore
from .layers import LayerStore
from .models import ImageRecord, LayerRecord, RefRecord, RootfsRecord
from .reference import IDENTIFIER_RE, SHORT_ID_RE, Reference, is_full_id, parse


class ImageNotFound(NotFound):
    pass


def no_such_image(text: str) -> ImageNotFound:
    """dockerd's ErrImageDoesNotExist wording: names get their default tag."""
    shown = text
    try:
        if not is_full_id(text):
            shown = parse(text).with_default_tag().familiar
    except InvalidArgument:
        pass
    return ImageNotFound(f"No such image: {shown}")


@dataclass
class ImageView:
    """Everything a client sees about an image."""

    record: ImageRecord
    config_json: bytes
    config: dict[str, Any]
    repo_tags: list[str] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    layer_sizes: list[int] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def labels(self) -> dict[str, str]:
        cfg = self.config.get("config") or {}
        return dict(cfg.get("Labels") or {})

    @property
    def diff_ids(self) -> list[str]:
        return list((self.config.get("rootfs") or {}).get("diff_ids") or [])


_UPSERT_REF = text(
    "INSERT INTO img_refs (name, image_id, is_digest, added) "
    "VALUES (:name, :image_id, :is_digest, :added) "
    "ON CONFLICT (name) DO UPDATE SET image_id = excluded.image_id, "
    "is_digest = excluded.is_digest, added = excluded.added"
)
_TAG_TIME = text("UPDATE img_images SET last_tag_time = :now WHERE id = :id")


class ImageStore:
    def __init__(
        self,
        engine: Engine,
        db_lock: threading.Lock,
        content: ContentStore,
        layers: LayerStore,
        events: EventBus,
    ) -> None:
        self.engine = engine
        self.db_lock = db_lock
        self.content = content
        self.layers = layers
        self.events = events
        # Get is on the hot path of every container create: resolved views
        # are cached until the next write to images or references.
        self._cache: dict[str, ImageView] = {}
        self._gen = 0
        self._cache_lock = threading.Lock()
        self._configs: dict[str, tuple[bytes, dict[str, Any]]] = {}
        # (generation, request key, answer) of the last listing (listing.py).
        self.listing_cache: tuple[int, Any, Any] | None = None

    def invalidate(self) -> None:
        with self._cache_lock:
            self._gen += 1
            self._cache.clear()

    @property
    def generation(self) -> int:
        """Bumped by every write to images or references: what a cached
        answer about them (a listing) is keyed on."""
        return self._gen

    def config_of(self, image_id: str) -> tuple[bytes, dict[str, Any]]:
        """An image's config blob and its parsed form. Immutable (named by
        its digest), so kept once read: listings read hundreds of them."""
        hit = self._configs.get(image_id)
        if hit is None:
            raw = self.content.read(image_id)
            hit = (raw, json.loads(raw))
            if len(self._configs) > 4096:
                self._configs.clear()
            self._configs[image_id] = hit
        return hit

    def cached_view(self, text: str) -> ImageView:
        with self._cache_lock:
            hit = self._cache.get(text)
            gen = self._gen
        if hit is not None:
            return hit
        view = self.view(self.resolve(text))
        with self._cache_lock:
            if gen == self._gen:
                if len(self._cache) > 1024:
                    self._cache.clear()
                self._cache[text] = view
        return view

    # ------------------------------------------------------------ records
    def register(
        self, config_json: bytes, chain: list[str], manifest_digest: str = ""
    ) -> ImageRecord:
        """Record an image whose layers are in the layer store. Idempotent."""
        image_id = self.content.put(config_json)
        config = json.loads(config_json)
        with self.db_lock, Session(self.engine) as s:
            rec = s.get(ImageRecord, image_id)
            if rec is not None:
                if manifest_digest and not rec.manifest_digest:
                    rec.manifest_digest = manifest_digest
                    s.add(rec)
                    s.commit()
                    s.refresh(rec)
                    self.invalidate()
                return rec
            size = 0
            for cid in chain:
                layer = s.get(LayerRecord, cid)
                if layer is None:
                    raise NotFound(f"layer {cid} is missing")
                layer.refcount += 1
                size += layer.size
                s.add(layer)
            rec = ImageRecord(
                id=image_id,
                created=str(config.get("created") or ""),
                size=size,
                os=str(config.get("os") or "linux"),
                architecture=str(config.get("architecture") or ""),
                variant=str(config.get("variant") or ""),
                chain_ids_json=json.dumps(chain),
                manifest_digest=manifest_digest,
                parent=str(config.get("parent") or ""),
                cache_key=cache_key_of(config),
            )
            s.add(rec)
            s.commit()
            s.refresh(rec)
        self.invalidate()
        return rec

    def get_record(self, image_id: str) -> ImageRecord | None:
        with Session(self.engine) as s:
            return s.get(ImageRecord, image_id)

    # ------------------------------------------------------------ parents
    # dockerd links an image to the one it was committed or built from
    # (imageStore.SetParent); these answer its Children and parent chain.
    def set_parent(self, image_id: str, parent_id: str) -> None:
        """Link an image under a parent (a build that reuses a --cache-from
        image as a step of its own, as dockerd's imageStore.SetParent)."""
        with self.db_lock, Session(self.engine) as s:
            rec = s.get(ImageRecord, image_id)
            if rec is None or rec.parent == parent_id:
                return
            rec.parent = parent_id
            s.add(rec)
            s.commit()
        self.invalidate()

    def has_children(self, image_id: str) -> bool:
        with Session(self.engine) as s:
            child = s.exec(select(ImageRecord.id).where(ImageRecord.parent == image_id).limit(1))
            return child.first() is not None

    def parent_links(self) -> dict[str, str]:
        """Every image's parent id ("" for none), read at once."""
        with Session(self.engine) as s:
            return dict(s.exec(select(ImageRecord.id, ImageRecord.parent)).all())

    def containers_on(self, image_id: str) -> list[str]:
        """Containers whose root filesystem stands on the image: every
        container has one from create to remove, so this knows about all of
        them, including the users of a parent the caller never asked about."""
        with Session(self.engine) as s:
            found = s.exec(
                select(RootfsRecord.container_id).where(RootfsRecord.image_id == image_id)
            )
            return list(found.all())

    def refs_of(self, image_id: str) -> list[RefRecord]:
        with Session(self.engine) as s:
            return list(
                s.exec(
                    select(RefRecord)
                    .where(RefRecord.image_id == image_id)
                    .order_by(col(RefRecord.added))
                ).all()
            )

    def set_ref(self, ref: Reference, image_id: str) -> None:
        """Point `ref` at `image_id` (replacing what it named before)."""
        now = time.time()
        # Core SQL: every build tags, and the ORM's merge cost a millisecond.
        with self.db_lock, self.engine.begin() as conn:
            conn.execute(
                _UPSERT_REF,
                {
                    "name": str(ref),
                    "image_id": image_id,
                    "is_digest": bool(ref.digest),
                    "added": now,
                },
            )
            if not ref.digest:
                conn.execute(_TAG_TIME, {"id": image_id, "now": now})
        self.invalidate()

    def delete_ref(self, name: str) -> bool:
        with self.db_lock, Session(self.engine) as s:
            rec = s.get(RefRecord, name)
            if rec is None:
                return False
            s.delete(rec)
            s.commit()
        self.invalidate()
        return True

    def ref_target(self, ref: Reference) -> str | None:
        with Session(self.engine) as s:
            rec = s.get(RefRecord, str(ref))
            return rec.image_id if rec is not None else None

    def lookup_ref(self, ref: Reference) -> str | None:
        """Image id a named reference points at (TagNameOnly when neither a
        tag nor a digest is given; a digest wins over a tag)."""
        return self.ref_target(
            ref.with_digest(ref.digest) if ref.digest else ref.with_default_tag()
        )

    # ------------------------------------------------------------ resolve
    def resolve(self, text: str) -> ImageRecord:
        """dockerd's GetImage: full id; else named ref; else unique id prefix."""
        if not text:
            raise InvalidArgument("invalid reference format")
        if is_full_id(text):
            rec = self.get_record("sha256:" + text.removeprefix("sha256:"))
            if rec is None:
                raise no_such_image(text)
            return rec
        ref: Reference | None
        try:
            ref = parse(text)
        except InvalidArgument:
            if not text.startswith("sha256:"):
                raise
            ref = None
        if ref is not None:
            image_id = self.lookup_ref(ref)
            if image_id is not None:
                rec = self.get_record(image_id)
                if rec is not None:
                    return rec
        rec = self.search_prefix(text)
        if rec is None:
            raise no_such_image(text)
        return rec

    def search_prefix(self, text: str) -> ImageRecord | None:
        prefix = text.removeprefix("sha256:")
        if not SHORT_ID_RE.match(prefix):
            return None
        with Session(self.engine) as s:
            found = s.exec(
                select(ImageRecord).where(ImageRecord.id.startswith("sha256:" + prefix)).limit(2)
            ).all()
        return found[0] if len(found) == 1 else None

    # ------------------------------------------------------------ views
    def view(self, rec: ImageRecord) -> ImageView:
        config_json = self.content.read(rec.id)
        repo_tags: list[str] = []
        repo_digests: list[str] = []
        for ref in self.refs_of(rec.id):
            parsed = parse(ref.name)
            (repo_digests if ref.is_digest else repo_tags).append(parsed.familiar)
        sizes: list[int] = []
        with Session(self.engine) as s:
            for cid in rec.chain_ids:
                layer = s.get(LayerRecord, cid)
                sizes.append(layer.size if layer else 0)
        return ImageView(rec, config_json, json.loads(config_json), repo_tags, repo_digests, sizes)


def ref_matches(familiar: str, patterns: list[str]) -> bool:
    name = familiar.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return any(fnmatch.fnmatchcase(familiar, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def is_id_prefix(image_id: str, text: str) -> bool:
    return image_id.startswith(text) or image_id.removeprefix("sha256:").startswith(text)


__all__ = [
    "IDENTIFIER_RE",
    "ImageNotFound",
    "ImageStore",
    "ImageView",
    "is_id_prefix",
    "no_such_image",
]
