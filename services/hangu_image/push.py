"""Push an image to a registry with Docker's progress sequence:

    The push refers to repository [127.0.0.1:5000/busybox]
    <diff id>: Preparing | Waiting                         (top layer first)
    <diff id>: Pushing (current/total) … Pushed | Layer already exists | Mounted from <repo>
    latest: digest: sha256:… size: N            (plus aux {"Tag", "Digest", "Size"})

For each layer: a HEAD tells whether the repository already has the blob;
if not, a repository of the same registry known to hold it (blob sources,
learnt from pulls and pushes) lends it by a cross-repository mount; if not,
it is uploaded (registry.py: monolithic, or PATCH chunks when big).

Layers go up as gzip blobs: a gzip blob as stored, anything else (an
uncompressed or zstd layer) recompressed into a temporary file first,
deterministically, so its digest is stable. At most five at a time; the
manifest is Docker's schema 2."""

from __future__ import annotations

import gzip
import io
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

from .blobsources import BlobSources
from .images import ImageStore, ImageView
from .listing import list_images
from .mirrors import RegistryConfig
from .progress import Cancelled, ProgressEvent, PushedTag, StopFlag, Throttled
from .pull import translate_error
from .reference import Reference, parse
from .registry import MANIFEST_V2, Credentials, RegistryError, Session
from .unpack import HashingReader, decompressed

MAX_CONCURRENT_UPLOADS = 5
MAX_MOUNT_ATTEMPTS = 3
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"


class _Progress:
    """Reads through, reporting the count (an upload's progress)."""

    def __init__(self, src: BinaryIO, on_progress: Throttled) -> None:
        self.src, self.count, self.on_progress = src, 0, on_progress

    def read(self, n: int = -1) -> bytes:
        data = self.src.read(n)
        self.count += len(data)
        self.on_progress(self.count)
        return data


def _gzip_to(store: ImageStore, digest: str) -> tuple[Path, str, int]:
    """Recompress a layer blob (uncompressed, zstd, ...) as gzip into a temp
    file: (path, digest, size)."""
    fd, tmp = store.content.ingest_file()
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as gz,
            store.content.open(digest) as src,
        ):
            shutil.copyfileobj(decompressed(src), gz, 1 << 20)
        with open(tmp, "rb") as fh:
            hasher = HashingReader(fh)
            hasher.drain()
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp), hasher.digest, os.path.getsize(tmp)


def push(
    store: ImageStore,
    text: str,
    all_tags: bool,
    creds: Credentials | None,
    config: RegistryConfig | None = None,
    cancel: threading.Event | None = None,
    sources: BlobSources | None = None,
) -> Iterator[ProgressEvent]:
    ref = parse(text)
    if ref.digest:
        raise InvalidArgument("cannot push a digest reference")
    # As dockerd: no tag of the repository at all is an error before any
    # output; a missing tag is one in the stream.
    known = sorted(
        {
            parse(t).tag
            for v in list_images(store, {}, all_=True).views
            for t in v.repo_tags
            if parse(t).name == ref.name
        }
    )
    if not known:
        raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
    tags = known if all_tags and not ref.tag else [ref.with_default_tag().tag]
    session = Session(ref, creds, config or RegistryConfig())  # never a mirror
    yield ProgressEvent(status=f"The push refers to repository [{ref.name}]")
    for tag in tags:
        if store.lookup_ref(ref.with_tag(tag)) is None:
            yield ProgressEvent(error=f"tag does not exist: {ref.with_tag(tag).familiar}")
            return
        for ev in _TagPush(store, ref.with_tag(tag), session, StopFlag(cancel), sources).run():
            yield ev
            if ev.error:
                return
        if cancel is not None and cancel.is_set():
            return


class _TagPush:
    def __init__(
        self,
        store: ImageStore,
        ref: Reference,
        session: Session,
        cancel: StopFlag,
        sources: BlobSources | None,
    ) -> None:
        self.store, self.ref, self.session, self.cancel = store, ref, session, cancel
        self.sources = sources
        image_id = store.lookup_ref(ref)
        if image_id is None:
            raise NotFound(f"An image does not exist locally with the tag: {ref.familiar_name}")
        self.view: ImageView = store.view(store.resolve(image_id))
        self.events: queue.Queue[ProgressEvent | BaseException | None] = queue.Queue()

    def emit(self, id_: str, status: str, current: int = 0, total: int = 0) -> None:
        self.events.put(
            ProgressEvent(id=id_, status=status, current=current, total=total, detail=True)
        )

    def _short(self, i: int) -> str:
        return self.view.diff_ids[i].removeprefix("sha256:")[:12]

    # ------------------------------------------------------------ one layer
    def _upload(self, i: int, chain_id: str) -> dict[str, Any]:
        rec = self.store.layers.get(chain_id)
        short = self._short(i)
        if rec is None or not rec.blob_digest or not self.store.content.has(rec.blob_digest):
            raise NotFound(f"the blob of layer {self.view.diff_ids[i]} is not available")
        if self.cancel.is_set():
            raise Cancelled("cancelled")
        tmp: Path | None = None
        path, digest = self.store.content.path(rec.blob_digest), rec.blob_digest
        with open(path, "rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
        try:
            if not gzipped:
                tmp, digest, _ = _gzip_to(self.store, rec.blob_digest)
                path = tmp
            size = os.path.getsize(path)
            self._send_blob(short, path, digest, size)
        finally:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        if self.sources is not None:
            self.sources.add([digest], self.ref.domain, self.ref.path)
        return {"mediaType": LAYER_GZIP, "size": size, "digest": digest}

    def _send_blob(self, short: str, path: Path, digest: str, size: int) -> None:
        if self.session.blob_exists(digest):
            self.emit(short, "Layer already exists")
            return
        location = ""
        if self.sources is not None:
            for source in self.sources.candidates(digest, self.ref.domain, self.ref.path)[
                :MAX_MOUNT_ATTEMPTS
            ]:
                self.session.extra_scopes.add(f"repository:{source}:pull")
                location = self.session.mount_blob(digest, source)
                if not location:
                    self.emit(short, f"Mounted from {source}")
                    return
                # Not there any more: upload through the session it opened.
                self.sources.forget(digest, self.ref.domain, source)
                break
        progress = Throttled(lambda n: self.emit(short, "Pushing", n, size), cancel=self.cancel)
        with open(path, "rb") as fh:
            self.session.upload_blob(_Progress(fh, progress), size, digest, location)
        self.emit(short, "Pushing", size, size)
        self.emit(short, "Pushed")

    # ------------------------------------------------------------ the tag
    def _work(self, layers: list[dict[str, Any]]) -> None:
        try:
            chain = self.view.record.chain_ids
            top_first = list(reversed(range(len(chain))))
            for i in top_first:
                self.emit(self._short(i), "Preparing")
            for i in top_first[MAX_CONCURRENT_UPLOADS:]:
                self.emit(self._short(i), "Waiting")
            with ThreadPoolExecutor(MAX_CONCURRENT_UPLOADS, thread_name_prefix="up") as pool:
                futures = {i: pool.submit(self._upload, i, chain[i]) for i in top_first}
                try:
                    layers.extend(futures[i].result() for i in range(len(chain)))
                except BaseException:
                    self.cancel.set()
                    raise
            view = self.view
            if not self.session.blob_exists(view.id):
                self.session.upload_blob(
                    io.BytesIO(view.config_json), len(view.config_json), view.id
                )
            self.events.put(None)
        except BaseException as err:
            self.cancel.set()
            self.events.put(err)

    def run(self) -> Iterator[ProgressEvent]:
        layers: list[dict[str, Any]] = []
        worker = threading.Thread(target=self._work, args=(layers,), name="push", daemon=True)
        worker.start()
        try:
            while True:
                item = self.events.get()
                if item is None:
                    break
                if isinstance(item, Cancelled):
                    return
                if isinstance(item, RegistryError):
                    yield ProgressEvent(error=translate_error(item, self.ref).message)
                    return
                if isinstance(item, BaseException):
                    yield ProgressEvent(error=getattr(item, "message", None) or str(item))
                    return
                yield item
        finally:
            self.cancel.set()
            worker.join()
        yield from self._finish(layers)

    def _finish(self, layers: list[dict[str, Any]]) -> Iterator[ProgressEvent]:
        view, ref = self.view, self.ref
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {"mediaType": CONFIG_TYPE, "size": len(view.config_json), "digest": view.id},
            "layers": layers,
        }
        raw = json.dumps(manifest, indent=3).encode()
        try:
            digest = self.session.put_manifest(ref.tag, raw, MANIFEST_V2)
        except RegistryError as err:
            yield ProgressEvent(error=translate_error(err, ref).message)
            return
        self.store.set_ref(ref.repo_only.with_digest(digest), view.id)
        yield ProgressEvent(status=f"{ref.tag}: digest: {digest} size: {len(raw)}")
        yield ProgressEvent(pushed=PushedTag(ref.tag, digest, len(raw)))
        self.store.events.emit("push", ref.familiar, name=ref.familiar)
