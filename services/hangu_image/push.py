"""Push an image to a registry with Docker's progress sequence:

    The push refers to repository [127.0.0.1:5000/busybox]
    <diff id>: Preparing | Waiting | Pushing (current/total) | Pushed | Layer already exists
    latest: digest: sha256:… size: N            (plus aux {"Tag", "Digest", "Size"})

Layers go up as gzip blobs (a layer stored uncompressed is compressed into
a temporary file first, deterministically, so its digest is stable), at
most five at a time; the manifest is Docker's schema 2."""

from __future__ import annotations

import gzip
import json
import os
import queue
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from hangu_runtime.errors import InvalidArgument, NotFound

from .images import ImageStore
from .progress import ProgressEvent, StopFlag, Throttled
from .pull import translate_error
from .reference import Reference, parse
from .registry import MANIFEST_V2, Credentials, RegistryError, Session
from .unpack import HashingReader

MAX_CONCURRENT_UPLOADS = 5
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class _Progress:
    def __init__(self, src: BinaryIO, on_progress: Throttled) -> None:
        self.src, self.count, self.on_progress = src, 0, on_progress

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.count += len(data)
        self.on_progress(self.count)
        return data


def _gzip_to(store: ImageStore, digest: str) -> tuple[Path, str, int]:
    """Compress an uncompressed layer blob into a temp file: (path, digest, size)."""
    fd, tmp = store.content.ingest_file()
    with os.fdopen(fd, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz, \
                store.content.open(digest) as src:
            shutil.copyfileobj(src, gz, 1 << 20)
    with open(tmp, "rb") as fh:
        hasher = HashingReader(fh)
        hasher.drain()
    return Path(tmp), hasher.digest, os.path.getsize(tmp)


def push(store: ImageStore, text: str, all_tags: bool, creds: Credentials | None,
         insecure: tuple[str, ...],
         cancel: threading.Event | None = None) -> Iterator[ProgressEvent]:
    ref = parse(text)
    if ref.digest:
        raise InvalidArgument("cannot push a digest reference")
    if all_tags and not ref.tag:
        tags = sorted({parse(t).tag for v in store.list({}) for t in v.repo_tags
                       if parse(t).name == ref.name})
        if not tags:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    else:
        tags = [ref.with_default_tag().tag]
    session = Session(ref, creds, insecure)
    yield ProgressEvent(status=f"The push refers to repository [{ref.name}]")
    for tag in tags:
        yield from _push_tag(store, ref.with_tag(tag), session, StopFlag(cancel))


def _push_tag(store: ImageStore, ref: Reference, session: Session,
              cancel: StopFlag) -> Iterator[ProgressEvent]:
    image_id = store.lookup_ref(ref)
    if image_id is None:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    view = store.view(store.resolve(image_id))
    events: queue.Queue[ProgressEvent | BaseException | None] = queue.Queue()
    layers: list[dict[str, Any]] = []

    def emit(id_: str, status: str, current: int = 0, total: int = 0) -> None:
        events.put(ProgressEvent(id=id_, status=status, current=current, total=total,
                                  detail=True))

    def upload(i: int, chain_id: str) -> dict[str, Any]:
        rec = store.layers.get(chain_id)
        short = view.diff_ids[i].removeprefix("sha256:")[:12]
        if rec is None or not rec.blob_digest or not store.content.has(rec.blob_digest):
            raise NotFound(f"the blob of layer {view.diff_ids[i]} is not available")
        tmp: Path | None = None
        path, digest = store.content.path(rec.blob_digest), rec.blob_digest
        with open(path, "rb") as fh:
            compressed = fh.read(2) == b"\x1f\x8b"
        try:
            if not compressed:
                tmp, digest, _ = _gzip_to(store, rec.blob_digest)
                path = tmp
            size = os.path.getsize(path)
            if session.blob_exists(digest):
                emit(short, "Layer already exists")
            else:
                progress = Throttled(lambda n: emit(short, "Pushing", n, size), cancel=cancel)
                with open(path, "rb") as fh:
                    session.upload_blob(_Progress(fh, progress), size, digest)  # type: ignore[arg-type]
                emit(short, "Pushing", size, size)
                emit(short, "Pushed")
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        return {"mediaType": LAYER_GZIP, "size": size, "digest": digest}

    def work() -> None:
        try:
            chain = view.record.chain_ids
            for i in range(len(chain)):
                emit(view.diff_ids[i].removeprefix("sha256:")[:12], "Preparing")
            for i in range(MAX_CONCURRENT_UPLOADS, len(chain)):
                emit(view.diff_ids[i].removeprefix("sha256:")[:12], "Waiting")
            with ThreadPoolExecutor(MAX_CONCURRENT_UPLOADS, thread_name_prefix="up") as pool:
                futures = [pool.submit(upload, i, c) for i, c in enumerate(chain)]
                layers.extend(f.result() for f in futures)
            if not session.blob_exists(view.id):
                session.upload_blob(view.config_json, len(view.config_json), view.id)
            events.put(None)
        except BaseException as err:  # noqa: BLE001 - reported to the client
            cancel.set()
            events.put(err)

    worker = threading.Thread(target=work, name="push", daemon=True)
    worker.start()
    try:
        while True:
            item = events.get()
            if item is None:
                break
            if isinstance(item, RegistryError):
                yield ProgressEvent(error=translate_error(item, ref).message)
                return
            if isinstance(item, BaseException):
                yield ProgressEvent(error=getattr(item, "message", None) or str(item))
                return
            yield item
    finally:
        cancel.set()
        worker.join()
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST_V2,
                "config": {"mediaType": CONFIG_TYPE, "size": len(view.config_json),
                           "digest": view.id},
                "layers": layers}
    raw = json.dumps(manifest, indent=3).encode()
    try:
        digest = session.put_manifest(ref.tag, raw, MANIFEST_V2)
    except RegistryError as err:
        yield ProgressEvent(error=translate_error(err, ref).message)
        return
    store.set_ref(ref.repo_only.with_digest(digest), view.id)
    yield ProgressEvent(status=f"{ref.tag}: digest: {digest} size: {len(raw)}")
    aux = {"Tag": ref.tag, "Digest": digest, "Size": len(raw)}
    yield ProgressEvent(aux_json=json.dumps(aux).encode())
    store.events.emit("push", ref.familiar, name=ref.familiar)
