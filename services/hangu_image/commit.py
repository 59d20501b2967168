"""`docker commit`: a container's writable layer becomes the top layer of a
new image whose config is the container's (with --change applied)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import diff
from .changes import apply_changes
from .images import ImageStore
from .layers import chain_ids
from .models import ImageRecord
from .placeholders import mount_placeholder_filter
from .reference import Reference, parse_repository_tag
from .rootfs import RootfsStore
from .unpack import HashingReader


class _HashingWriter:
    """Hashes the uncompressed tar (the diff id) on its way into gzip."""

    def __init__(self, gz: gzip.GzipFile) -> None:
        self.gz = gz
        self.hasher = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return self.gz.write(data)

    def flush(self) -> None:
        self.gz.flush()


def commit_upper(
    store: ImageStore,
    upper: Path,
    parent_diff_ids: list[str],
    skip: Callable[[str], bool] | None = None,
    keep_empty: bool = False,
) -> tuple[list[str], list[str]] | None:
    """The writable layer `upper` as a new top layer over `parent_diff_ids`:
    (diff ids, chain ids) of the result, or None when it changed nothing
    and not `keep_empty` (a build step's empty layer, which Docker does not
    add). `skip(rel)` drops entries that only exist for the container's own
    mounts. The new layer is pinned (safe from collection) until the caller
    unpins it, once an image holds it."""
    if not keep_empty and diff.is_empty(upper, skip):
        return None
    fd, tmp = store.content.ingest_file()
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz,
        ):
            writer = _HashingWriter(gz)
            diff.write_layer_tar(upper, writer, skip)  # type: ignore[arg-type]
        diff_id = "sha256:" + writer.hasher.hexdigest()
        diff_ids = list(parent_diff_ids) + [diff_id]
        chain = chain_ids(diff_ids)
        store.layers.pin(chain[-1])
        try:
            with open(tmp, "rb") as fh:
                blob = HashingReader(fh)
                store.layers.add(
                    chain[-1],
                    chain[-2] if len(chain) > 1 else "",
                    diff_id,
                    io.BufferedReader(blob, 1 << 20),
                )
                blob.drain()
            store.content.adopt(Path(tmp), blob.digest)
            store.layers.set_blob(chain[-1], blob.digest)
        except BaseException:
            store.layers.unpin(chain[-1])
            raise
    finally:
        Path(tmp).unlink(missing_ok=True)
    return diff_ids, chain


def commit(
    store: ImageStore,
    rootfs: RootfsStore,
    container_id: str,
    repository: str = "",
    tag: str = "",
    comment: str = "",
    author: str = "",
    changes: list[str] | None = None,
    container_config: dict[str, Any] | None = None,
) -> str:
    rec = rootfs.record(container_id)
    parent = store.get_record(rec.image_id)
    parent_config: dict[str, Any] = (
        json.loads(store.content.read(rec.image_id)) if parent is not None else {}
    )
    ref = parse_repository_tag(repository, tag).with_default_tag() if repository else None

    parent_diff_ids = list((parent_config.get("rootfs") or {}).get("diff_ids") or [])
    # `docker commit` always adds a layer, an empty one too (as dockerd),
    # without what runc made only for the container's own mounts.
    info = rootfs.get(container_id)
    upper = Path(info.upper_dir)
    made = commit_upper(
        store,
        upper,
        parent_diff_ids,
        skip=mount_placeholder_filter(upper, info.lower_dirs),
        keep_empty=True,
    )
    assert made is not None
    diff_ids, chain = made
    try:
        return _commit_image(
            store,
            container_id,
            parent,
            parent_config,
            ref,
            diff_ids,
            chain,
            comment,
            author,
            changes,
            container_config,
        )
    finally:
        store.layers.unpin(chain[-1])


def _commit_image(
    store: ImageStore,
    container_id: str,
    parent: ImageRecord | None,
    parent_config: dict[str, Any],
    ref: Reference | None,
    diff_ids: list[str],
    chain: list[str],
    comment: str,
    author: str,
    changes: list[str] | None,
    container_config: dict[str, Any] | None,
) -> str:

    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    base_cfg = dict(container_config or parent_config.get("config") or {})
    config = {
        k: v
        for k, v in parent_config.items()
        if k in ("architecture", "os", "variant", "os.version")
    }
    config.setdefault("architecture", parent.architecture if parent else "")
    config.setdefault("os", "linux")
    cmd = base_cfg.get("Cmd") or []
    config.update(
        {
            "created": now,
            "container": container_id,
            "author": author,
            "comment": comment,
            "config": apply_changes(base_cfg, changes or []),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": list(parent_config.get("history") or [])
            + [
                {
                    "created": now,
                    "author": author,
                    "comment": comment,
                    "created_by": " ".join(str(c) for c in cmd),
                }
            ],
        }
    )
    if parent is not None:
        config["parent"] = parent.id
    config_json = json.dumps(
        {k: v for k, v in config.items() if v != ""}, separators=(",", ":")
    ).encode()
    image = store.register(config_json, chain)
    if ref is not None:
        store.set_ref(ref, image.id)
        store.events.emit("tag", image.id, name=ref.familiar)
    return image.id
