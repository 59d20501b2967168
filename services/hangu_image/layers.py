"""Layer store: each layer unpacked once, in a directory named by its chain
id, with a short link name (as overlay2's l/ directory) so a mount of a
120-layer image still fits in one page of mount options.

Layers are unpacked into a temporary directory and renamed into place only
when complete and verified, so a failed pull leaves no half layer."""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import string
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from .content import ContentStore
from .models import LayerRecord, RootfsRecord
from .unpack import LayerError, UnpackResult, decompressed, unpack

_LINK_ALPHABET = string.ascii_uppercase + string.digits
LINK_LEN = 26


def chain_ids(diff_ids: list[str]) -> list[str]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return out


class LayerStore:
    def __init__(
        self,
        root: Path,
        engine: Engine,
        db_lock: threading.Lock,
        content: ContentStore | None = None,
    ) -> None:
        self.root = root  # <root>/image
        self.content = content
        self.layers = root / "layers"
        self.links = root / "l"
        self.tmp = root / "tmp"
        for d in (self.layers, self.links, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        self.engine = engine
        self.db_lock = db_lock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        # Layers made but not yet in an image (a commit between adding its
        # layer and registering the image): collect leaves them alone.
        self._pins: dict[str, int] = {}

    def lock_for(self, chain_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(chain_id, threading.Lock())

    def dir(self, chain_id: str) -> Path:
        return self.layers / chain_id.removeprefix("sha256:")

    def diff_dir(self, chain_id: str) -> Path:
        return self.dir(chain_id) / "diff"

    def get(self, chain_id: str) -> LayerRecord | None:
        with Session(self.engine) as s:
            return s.get(LayerRecord, chain_id)

    def exists(self, chain_id: str) -> bool:
        rec = self.get(chain_id)
        return rec is not None and self.diff_dir(chain_id).is_dir()

    def link_path(self, chain_id: str) -> str:
        """The layer's short name relative to the image root: l/XXXX."""
        rec = self.get(chain_id)
        if rec is None:
            raise LayerError(f"layer {chain_id} does not exist")
        return f"l/{rec.link}"

    def add(
        self,
        chain_id: str,
        parent: str,
        expected_diff_id: str,
        src: BinaryIO,
        blob_digest: str = "",
        on_progress: Callable[[int], None] | None = None,
    ) -> LayerRecord:
        """Unpack the (possibly compressed) layer stream `src` as `chain_id`.
        Verifies the diff id; on any failure nothing is left behind."""
        with self.lock_for(chain_id):
            existing = self.get(chain_id)
            if existing is not None and self.diff_dir(chain_id).is_dir():
                return existing
            return self._unpack(chain_id, parent, expected_diff_id, src, blob_digest, on_progress)

    def add_base(self, src: BinaryIO) -> LayerRecord:
        """Unpack a base layer whose diff id is not known in advance (import)."""
        return self._unpack("", "", "", src, "", None)

    def _unpack(
        self,
        chain_id: str,
        parent: str,
        expected_diff_id: str,
        src: BinaryIO,
        blob_digest: str,
        on_progress: Callable[[int], None] | None,
    ) -> LayerRecord:
        work = Path(os.path.realpath(self.tmp)) / f"unpack-{secrets.token_hex(8)}"
        diff = work / "diff"
        diff.mkdir(parents=True)
        try:
            result = unpack(decompressed(src), diff, on_progress)
            if expected_diff_id and result.diff_id != expected_diff_id:
                raise LayerError(
                    f"layer {blob_digest or chain_id}: diff id mismatch: expected "
                    f"{expected_diff_id}, got {result.diff_id}"
                )
            return self._install(chain_id or result.diff_id, parent, work, result, blob_digest)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise

    def install(
        self, chain_id: str, parent: str, work: Path, result: UnpackResult, blob_digest: str = ""
    ) -> LayerRecord:
        """Take a layer unpacked elsewhere (`work`/diff, on this filesystem;
        a load unpacks while it reads the archive) as `chain_id`. `work` is
        moved into place, or removed if the layer is there already."""
        with self.lock_for(chain_id):
            try:
                return self._install(chain_id, parent, work, result, blob_digest)
            except BaseException:
                shutil.rmtree(work, ignore_errors=True)
                raise

    def _install(
        self, chain_id: str, parent: str, work: Path, result: UnpackResult, blob_digest: str
    ) -> LayerRecord:
        existing = self.get(chain_id)
        if existing is not None and self.diff_dir(chain_id).is_dir():
            shutil.rmtree(work, ignore_errors=True)
            return existing
        link = "".join(secrets.choice(_LINK_ALPHABET) for _ in range(LINK_LEN))
        (work / "link").write_text(link)
        final = self.dir(chain_id)
        if final.exists():
            shutil.rmtree(final)
        os.rename(work, final)
        os.symlink(f"../layers/{final.name}/diff", self.links / link)
        with self.db_lock, Session(self.engine) as s:
            # A record may survive its directory (lost in a crash): images
            # still count on it, so its refcount stays.
            old = s.get(LayerRecord, chain_id)
            if old is not None:
                (self.links / old.link).unlink(missing_ok=True)
            rec = LayerRecord(
                chain_id=chain_id,
                diff_id=result.diff_id,
                parent=parent,
                size=result.size,
                link=link,
                refcount=old.refcount if old is not None else 0,
                blob_digest=blob_digest or (old.blob_digest if old else ""),
            )
            rec = s.merge(rec)
            s.commit()
            s.refresh(rec)
        return rec

    def set_blob(self, chain_id: str, blob_digest: str) -> None:
        """Remember the blob (compressed or not) the layer was unpacked from,
        kept in the content store for save and push."""
        with self.db_lock, Session(self.engine) as s:
            rec = s.get(LayerRecord, chain_id)
            if rec is not None and not rec.blob_digest:
                rec.blob_digest = blob_digest
                s.add(rec)
                s.commit()

    def add_refs(self, chain: list[str], delta: int) -> None:
        with self.db_lock, Session(self.engine) as s:
            for cid in chain:
                rec = s.get(LayerRecord, cid)
                if rec is not None:
                    rec.refcount = max(0, rec.refcount + delta)
                    s.add(rec)
            s.commit()

    def pin(self, chain_id: str) -> None:
        with self._locks_guard:
            self._pins[chain_id] = self._pins.get(chain_id, 0) + 1

    def unpin(self, chain_id: str) -> None:
        with self._locks_guard:
            left = self._pins.get(chain_id, 0) - 1
            if left > 0:
                self._pins[chain_id] = left
            else:
                self._pins.pop(chain_id, None)

    def collect(self, only: list[str] | None = None) -> list[str]:
        """Delete layers no image and no container root filesystem uses
        (among `only`, when given)."""
        removed: list[str] = []
        blobs: list[str] = []
        with self.db_lock, Session(self.engine) as s:
            with self._locks_guard:
                in_rootfs: set[str] = set(self._pins)
            for r in s.exec(select(RootfsRecord)):
                in_rootfs.update(r.chain_ids)
            for rec in s.exec(select(LayerRecord).where(LayerRecord.refcount <= 0)).all():
                if rec.chain_id in in_rootfs or (only is not None and rec.chain_id not in only):
                    continue
                s.delete(rec)
                removed.append(rec.chain_id)
                if rec.blob_digest:
                    blobs.append(rec.blob_digest)
                (self.links / rec.link).unlink(missing_ok=True)
            s.commit()
            still_used = {r.blob_digest for r in s.exec(select(LayerRecord))}
        if self.content is not None:
            for digest in blobs:
                if digest not in still_used:
                    self.content.delete(digest)
        for cid in removed:
            target = self.dir(cid)
            doomed = self.tmp / f"rm-{secrets.token_hex(8)}"
            try:
                os.rename(target, doomed)
            except FileNotFoundError:
                continue
            shutil.rmtree(doomed, ignore_errors=True)
        return removed

    def reconcile(self) -> None:
        """At start-up: drop layer dirs and links no record knows (a crash
        between unpacking and recording them)."""
        with Session(self.engine) as s:
            records = list(s.exec(select(LayerRecord)).all())
        known = {r.chain_id.removeprefix("sha256:") for r in records}
        links = {r.link for r in records}
        for entry in self.layers.iterdir():
            if entry.name not in known:
                shutil.rmtree(entry, ignore_errors=True)
        for entry in self.links.iterdir():
            if entry.name not in links or not entry.exists():
                entry.unlink(missing_ok=True)

    def clean_tmp(self) -> None:
        for entry in self.tmp.iterdir():
            shutil.rmtree(entry, ignore_errors=True)
