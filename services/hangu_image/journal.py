"""A pull's journal: the blobs and layers it is about to create, written
down before each is made, so what a killed image service left of a pull
(blobs in the content store, unpacked layers no image uses) is removed at
the next start. A pull that ends, well or badly, removes its journal."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlmodel import Session, select

from .images import ImageStore
from .models import ImageRecord, LayerRecord


class PullJournal:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"pull-{secrets.token_hex(8)}.journal"
        # O_APPEND, unbuffered: each line is in the page cache as soon as it
        # is written, which is all a SIGKILL'ed process needs.
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def _write(self, kind: str, value: str) -> None:
        if self.fd >= 0:
            os.write(self.fd, f"{kind} {value}\n".encode())

    def blob(self, digest: str) -> None:
        self._write("blob", digest)

    def layer(self, chain_id: str) -> None:
        self._write("layer", chain_id)

    def image(self, image_id: str) -> None:
        self._write("image", image_id)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        self.path.unlink(missing_ok=True)


def recover(folder: Path, store: ImageStore) -> list[str]:
    """Undo the pulls a crash interrupted; returns what was removed."""
    if not folder.is_dir():
        return []
    removed: list[str] = []
    for path in sorted(folder.glob("pull-*.journal")):
        entries: dict[str, list[str]] = {"blob": [], "layer": [], "image": []}
        for line in path.read_text(errors="replace").splitlines():
            kind, _, value = line.partition(" ")
            if kind in entries and value:
                entries[kind].append(value)
        if not any(store.get_record(i) is not None for i in entries["image"]):
            removed += _undo(store, entries["layer"], entries["blob"])
        path.unlink(missing_ok=True)
    return removed


def _undo(store: ImageStore, layers: list[str], blobs: list[str]) -> list[str]:
    removed = store.layers.collect(layers) if layers else []
    with Session(store.engine) as s:
        used = {r.blob_digest for r in s.exec(select(LayerRecord))}
        for rec in s.exec(select(ImageRecord)):
            used.update((rec.id, rec.manifest_digest))
    for digest in blobs:
        if digest not in used and store.content.has(digest):
            store.content.delete(digest)
            removed.append(digest)
    return removed
