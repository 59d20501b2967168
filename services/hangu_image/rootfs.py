"""Container root filesystems (snapshots, in containerd's words): a
writable upper and work dir per container over the image's layer dirs,
mounted as an overlay at <root>/image/rootfs/<cid>/merged.

Mount state is the kernel's (is the merged dir a mount point?), not a flag
in the database, so it stays right across restarts of the service: a
rootfs mounted before a restart is still reported, and left, mounted."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from hangu_runtime.errors import InvalidArgument, NotFound

from . import diff
from .images import ImageStore
from .layers import LayerStore
from .models import RootfsRecord
from .mounts import is_mounted, mount_overlay, unmount
from .placeholders import mount_placeholder_filter

_CID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


@dataclass
class RootfsInfo:
    container_id: str
    image_id: str
    path: str
    upper_dir: str
    work_dir: str
    lower_dirs: list[str] = field(default_factory=list)  # topmost first


class RootfsStore:
    def __init__(
        self,
        root: Path,
        engine: Engine,
        db_lock: threading.Lock,
        images: ImageStore,
        layers: LayerStore,
    ) -> None:
        self.image_root = root
        self.root = root / "rootfs"
        self.root.mkdir(parents=True, exist_ok=True)
        self.empty = root / "empty"
        self.empty.mkdir(exist_ok=True)
        self.engine = engine
        self.db_lock = db_lock
        self.images = images
        self.layers = layers
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, cid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(cid, threading.Lock())

    def dir(self, cid: str) -> Path:
        if not _CID_RE.match(cid):
            raise InvalidArgument(f"invalid container id {cid!r}")
        return self.root / cid

    def record(self, cid: str) -> RootfsRecord:
        return self._record(cid)

    def _record(self, cid: str) -> RootfsRecord:
        with Session(self.engine) as s:
            rec = s.get(RootfsRecord, cid)
        if rec is None:
            raise NotFound(f"no root filesystem for container {cid}")
        return rec

    def info(self, rec: RootfsRecord) -> RootfsInfo:
        d = self.dir(rec.container_id)
        merged = d / "merged"
        lowers = [str(self.layers.diff_dir(c)) for c in reversed(rec.chain_ids)] or [
            str(self.empty)
        ]
        return RootfsInfo(
            rec.container_id,
            rec.image_id,
            str(merged) if is_mounted(merged) else "",
            str(d / "upper"),
            str(d / "work"),
            lowers,
        )

    def get(self, cid: str) -> RootfsInfo:
        return self.info(self._record(cid))

    def prepare(self, cid: str, image_ref: str) -> RootfsInfo:
        """Create the writable layer for `cid` on image `image_ref` (an id
        or any reference Get accepts). Idempotent."""
        with self._lock(cid):
            with Session(self.engine) as s:
                existing = s.get(RootfsRecord, cid)
            if existing is not None:
                return self.info(existing)
            # "": an empty root filesystem (a build's FROM scratch stage)
            image_id, chain = "", []
            if image_ref:
                image = self.images.cached_view(image_ref).record
                image_id, chain = image.id, image.chain_ids
            d = self.dir(cid)
            tmp = self.root / f".prep-{secrets.token_hex(6)}"
            tmp.mkdir()
            for sub in ("upper", "work", "merged"):
                (tmp / sub).mkdir(mode=0o755)
            os.rename(tmp, d)
            rec = RootfsRecord(
                container_id=cid, image_id=image_id, chain_ids_json=json.dumps(chain)
            )
            with self.db_lock, Session(self.engine) as s:
                s.add(rec)
                s.commit()
                s.refresh(rec)
            return self.info(rec)

    def mount(self, cid: str) -> RootfsInfo:
        with self._lock(cid):
            rec = self._record(cid)
            d = self.dir(cid)
            merged = d / "merged"
            if not is_mounted(merged):
                for c in rec.chain_ids:
                    if not self.layers.diff_dir(c).is_dir():
                        raise NotFound(f"layer {c} of container {cid} is missing")
                chain = list(reversed(rec.chain_ids))
                lowers_abs = [str(self.image_root / self.layers.link_path(c)) for c in chain]
                lowers_rel = [self.layers.link_path(c) for c in chain]
                if not chain:
                    lowers_abs = lowers_rel = [str(self.empty)]
                rel_base = f"rootfs/{cid}"
                mount_overlay(
                    merged,
                    lowers_abs,
                    lowers_rel,
                    (str(d / "upper"), f"{rel_base}/upper"),
                    (str(d / "work"), f"{rel_base}/work"),
                    self.image_root,
                )
            return self.info(rec)

    def unmount(self, cid: str) -> None:
        with self._lock(cid):
            self._record(cid)
            unmount(self.dir(cid) / "merged")

    def remove(self, cid: str) -> None:
        with self._lock(cid):
            with Session(self.engine) as s:
                rec = s.get(RootfsRecord, cid)
            d = self.dir(cid)
            if rec is None and not d.exists():
                raise NotFound(f"no root filesystem for container {cid}")
            merged = d / "merged"
            unmount(merged)
            if is_mounted(merged):
                raise InvalidArgument(f"root filesystem of {cid} is still mounted")
            doomed = self.root / f".rm-{secrets.token_hex(6)}"
            if d.exists():
                os.rename(d, doomed)
                shutil.rmtree(doomed, ignore_errors=True)
            if rec is not None:
                with self.db_lock, Session(self.engine) as s:
                    db_rec = s.get(RootfsRecord, cid)
                    if db_rec is not None:
                        s.delete(db_rec)
                        s.commit()
        self.layers.collect()

    def changes(self, cid: str) -> list[tuple[str, int]]:
        """`docker diff`: (path, kind) for what the writable layer changed."""
        info = self.get(cid)
        upper, lowers = Path(info.upper_dir), info.lower_dirs
        return diff.changes(upper, lowers, mount_placeholder_filter(upper, lowers))

    def export(self, cid: str, stop: threading.Event | None = None) -> Iterator[bytes]:
        """`docker export`: the merged root filesystem as a tar; mounts it for
        the while if it is not mounted (a stopped container)."""
        was_mounted = bool(self.get(cid).path)
        info = self.mount(cid)
        try:
            yield from diff.stream_tar(
                lambda out: diff.write_rootfs_tar(Path(info.path), out), stop
            )
        finally:
            if not was_mounted:
                self.unmount(cid)

    def all(self) -> list[RootfsRecord]:
        with Session(self.engine) as s:
            return list(s.exec(select(RootfsRecord)).all())

    def unmount_all(self) -> None:
        """Unmount every container root filesystem (HANGU_PURGE_ON_STOP)."""
        for entry in self.root.iterdir():
            merged = entry / "merged"
            if is_mounted(merged):
                unmount(merged)

    def clean_partial(self) -> None:
        """At start-up: drop half-made or half-removed dirs, and dirs no
        record knows (never one that is mounted)."""
        known = {r.container_id for r in self.all()}
        for entry in self.root.iterdir():
            if entry.name in known or is_mounted(entry / "merged"):
                continue
            shutil.rmtree(entry, ignore_errors=True)
