"""Pull an image from a registry, streaming progress in exactly Docker's
sequence so the docker CLI draws its usual output:

    latest: Pulling from library/busybox
    <layer>: Pulling fs layer | Already exists        (then Waiting if queued)
    <layer>: Downloading (current/total) … Verifying Checksum, Download complete
    <layer>: Extracting (current/total) … Pull complete           (base first)
    Digest: sha256:…
    Status: Downloaded newer image for busybox:latest | Image is up to date for …

Up to three layers download at once, daemon-wide as dockerd (hashing
while they stream to the content store). Each layer unpacks into a
directory of its own, so two unpack side by side as soon as their blobs are
in; progress is still reported in Docker's order (base layer first). The
image is registered only when every layer is in place; a failure removes
what this pull created, and a journal (journal.py) lets the next start
remove what a killed service could not. Docker Hub pulls try the configured
mirrors first (mirrors.py)."""

from __future__ import annotations

import hashlib
import json
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hangu_runtime.errors import HanguError, Internal, InvalidArgument, NotFound, Unauthenticated
from hangu_runtime.ids import short_id
from hangu_runtime.logging import get_logger

from .blobsources import BlobSources
from .content import ContentStore, DigestMismatch
from .images import ImageStore
from .journal import PullJournal
from .layers import LayerStore, chain_ids
from .mirrors import RegistryConfig, endpoints
from .platforms import Platform, host_platform, select_manifest
from .progress import Cancelled, CountingReader, ProgressEvent, StopFlag, Throttled
from .reference import Reference, parse
from .registry import INDEX_TYPES, MANIFEST_TYPES, Credentials, RegistryError, Session

MAX_CONCURRENT_DOWNLOADS = 3
MAX_CONCURRENT_EXTRACTS = 2
PROGRESS_INTERVAL = 0.1

log = get_logger("hangu.image.pull")
# Daemon-wide, as dockerd's max-concurrent-downloads: two pulls side by side
# share the three slots.
DOWNLOAD_SLOTS = threading.BoundedSemaphore(MAX_CONCURRENT_DOWNLOADS)
T = TypeVar("T")


def translate_error(err: RegistryError, ref: Reference) -> HanguError:
    """dockerd's translatePullError wording."""
    code = err.error_code
    if code == "UNAUTHORIZED":
        return Unauthenticated(err.message)
    if code == "DENIED":
        return NotFound(
            f"pull access denied for {ref.familiar_name}, repository does not exist "
            f"or may require 'docker login': {err.message}"
        )
    if code == "MANIFEST_UNKNOWN":
        return NotFound(f"manifest for {ref.familiar} not found: {err.message}")
    if code == "NAME_UNKNOWN":
        return NotFound(f"repository {ref.familiar_name} not found: {err.message}")
    if code == "BLOB_UNKNOWN" or err.status == 404:
        return NotFound(err.message)
    return Internal(err.message)


def source_key(session: Session) -> str:
    """How blob sources name a registry: the reference's domain (docker.io
    whichever mirror served it)."""
    return session.ref.domain


def with_fallback(
    ref: Reference, creds: Credentials | None, config: RegistryConfig, first: Callable[[Session], T]
) -> tuple[Session, T]:
    """Call `first` on a session for each endpoint in turn (Docker Hub's
    mirrors, then the registry itself) until one answers; a mirror's
    failure falls back to the next endpoint, as dockerd."""
    candidates = endpoints(ref, config)
    for endpoint in candidates:
        session = Session(ref, creds, config, endpoint)
        try:
            return session, first(session)
        except (RegistryError, Internal, Unauthenticated) as err:
            if not endpoint.mirror:
                raise
            log.info(
                "mirror failed, falling back",
                mirror=endpoint.base,
                reference=str(ref),
                error=str(err),
            )
    raise AssertionError("unreachable: the registry itself is the last endpoint")


@dataclass
class _Layer:
    index: int
    desc: dict[str, Any]
    diff_id: str
    chain_id: str
    parent: str

    @property
    def digest(self) -> str:
        return str(self.desc["digest"])

    @property
    def short(self) -> str:
        return short_id(self.digest)


class Pull:
    """One pull; iterate `run()` for its progress."""

    def __init__(
        self,
        store: ImageStore,
        text: str,
        platform: Platform | None = None,
        creds: Credentials | None = None,
        config: RegistryConfig | None = None,
        cancel: threading.Event | None = None,
        sources: BlobSources | None = None,
        journal_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.content: ContentStore = store.content
        self.layers: LayerStore = store.layers
        ref = parse(text)
        self.ref = ref if ref.digest else ref.with_default_tag()
        self.platform = platform or host_platform()
        self.creds = creds
        self.config = config or RegistryConfig()
        self.session: Session | None = None
        self.sources = sources
        self.journal_dir = journal_dir
        self.journal: PullJournal | None = None
        self.queue: queue.Queue[ProgressEvent | BaseException | None] = queue.Queue()
        # Set when the client goes away (the servicer's RPC callback) or the
        # pull fails; downloads and unpacking stop at their next chunk.
        self.cancel = StopFlag(cancel)
        self.created_blobs: list[str] = []
        self.created_layers: list[str] = []
        self.download_slots = DOWNLOAD_SLOTS
        self.extract_slots = threading.Semaphore(MAX_CONCURRENT_EXTRACTS)
        self.extracted: dict[str, int] = {}
        self.image_id = ""

    def emit(
        self, id_: str, status: str, current: int = 0, total: int = 0, detail: bool = True
    ) -> None:
        self.queue.put(
            ProgressEvent(id=id_, status=status, current=current, total=total, detail=detail)
        )

    # ------------------------------------------------------------ driver
    def run(self) -> Iterator[ProgressEvent]:
        """Progress events. Errors before the first event are raised (a gRPC
        status); later ones end the stream with an event whose error is set."""
        worker = threading.Thread(target=self._work, name="pull", daemon=True)
        worker.start()
        started = False
        try:
            while True:
                item = self.queue.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    if not started:
                        raise item
                    yield ProgressEvent(error=getattr(item, "message", None) or str(item))
                    return
                started = True
                yield item
        finally:
            self.cancel.set()
            worker.join()

    def _work(self) -> None:
        if self.journal_dir is not None:
            self.journal = PullJournal(self.journal_dir)
        try:
            self._pull()
            self._close_journal()
            self.queue.put(None)
        except RegistryError as err:
            self._cleanup()
            self.queue.put(translate_error(err, self.ref))
        except Cancelled:
            self._cleanup()
            self.queue.put(None)
        except BaseException as err:
            self._cleanup()
            self.queue.put(err)

    def _cleanup(self) -> None:
        """Undo what this pull created, so a failure leaves nothing behind."""
        if self.created_layers:
            self.layers.collect(self.created_layers)
        for digest in self.created_blobs:
            self.content.delete(digest)
        self._close_journal()

    def _close_journal(self) -> None:
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    def _created_blob(self, digest: str) -> None:
        """Note a blob about to be created (journal first: a crash after the
        write must still find it)."""
        if self.journal is not None:
            self.journal.blob(digest)

    # ------------------------------------------------------------ steps
    def _manifest(self) -> tuple[dict[str, Any], str]:
        self.session, (raw, media_type, digest) = with_fallback(
            self.ref, self.creds, self.config, lambda s: s.get_manifest(self.ref.tag_or_digest)
        )
        self._store_blob(raw, digest)
        top_digest = digest
        doc: dict[str, Any] = json.loads(raw)
        if media_type in INDEX_TYPES:
            desc = select_manifest(doc, self.platform)
            raw, media_type, digest = self.session.get_manifest(str(desc["digest"]))
            self._store_blob(raw, digest)
            doc = json.loads(raw)
        if media_type not in MANIFEST_TYPES:
            raise InvalidArgument(f"unsupported manifest media type {media_type}")
        return doc, top_digest

    def _store_blob(self, raw: bytes, digest: str) -> None:
        if not self.content.has(digest):
            self._created_blob(digest)
            self.content.put(raw, digest)
            self.created_blobs.append(digest)

    def _config(self, manifest: dict[str, Any]) -> bytes:
        digest = str(manifest["config"]["digest"])
        if self.content.has(digest):
            return self.content.read(digest)
        assert self.session is not None
        with self.session.open_blob(digest) as resp:
            raw = resp.read(16 << 20)
        if "sha256:" + hashlib.sha256(raw).hexdigest() != digest:
            raise InvalidArgument(f"image config verification failed for digest {digest}")
        self._store_blob(raw, digest)
        return raw

    def _pull(self) -> None:
        manifest, manifest_digest = self._manifest()
        tag_or_digest = self.ref.digest or self.ref.tag
        self.emit(tag_or_digest, f"Pulling from {self.ref.path}", detail=False)
        config_digest = str(manifest["config"]["digest"])
        if self.store.get_record(config_digest) is not None:
            updated = self._tag(config_digest, manifest_digest)
            self._finish(manifest_digest, updated)
            return
        config_raw = self._config(manifest)
        config = json.loads(config_raw)
        self._check_platform(config)
        diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
        descs = list(manifest.get("layers") or [])
        if len(diff_ids) != len(descs):
            raise InvalidArgument("manifest and image config disagree on the number of layers")
        chain = chain_ids(diff_ids)
        layers = [
            _Layer(i, d, diff_ids[i], chain[i], chain[i - 1] if i else "")
            for i, d in enumerate(descs)
        ]
        todo = [layer for layer in layers if not self.layers.exists(layer.chain_id)]
        for layer in layers:
            self.emit(layer.short, "Already exists" if layer not in todo else "Pulling fs layer")
        # Each layer has its own directory, so layers can unpack side by side
        # as soon as their download is in; the client still sees Docker's
        # order: layer i "Extracting" only after layer i-1's "Pull complete".
        tasks: list[Future[None]] = []
        workers = min(len(todo), MAX_CONCURRENT_DOWNLOADS + MAX_CONCURRENT_EXTRACTS) or 1
        with ThreadPoolExecutor(workers, thread_name_prefix="layer") as pool:
            for n, layer in enumerate(todo):
                if n >= MAX_CONCURRENT_DOWNLOADS:
                    self.emit(layer.short, "Waiting")
                tasks.append(pool.submit(self._fetch_and_unpack, layer))
            try:
                for layer, task in zip(todo, tasks, strict=True):
                    self._report_extraction(layer, task)
            except BaseException:
                self.cancel.set()
                raise
        if self.journal is not None:
            self.journal.image(config_digest)
        self.store.register(config_raw, chain, manifest_digest)
        self._close_journal()
        self.image_id = config_digest
        if self.sources is not None:
            assert self.session is not None
            self.sources.add(
                [layer.digest for layer in layers], source_key(self.session), self.ref.path
            )
        self._tag(config_digest, manifest_digest)
        self._finish(manifest_digest, True)

    def _check_platform(self, config: dict[str, Any]) -> None:
        want = self.platform.normalized()
        got = Platform(
            config.get("os", "linux"), config.get("architecture", ""), config.get("variant", "")
        ).normalized()
        if got.architecture and (got.os, got.architecture) != (want.os, want.architecture):
            # dockerd pulls it anyway and warns; only refuse an explicit mismatch.
            pass

    def _download(self, layer: _Layer) -> None:
        if self.cancel.is_set():
            raise Cancelled("cancelled")
        total = int(layer.desc.get("size") or 0)
        with self.content.lock(layer.digest):
            if not self.content.has(layer.digest):
                progress = Throttled(
                    lambda n: self.emit(layer.short, "Downloading", n, total), cancel=self.cancel
                )
                self._created_blob(layer.digest)
                assert self.session is not None
                with self.session.open_blob(layer.digest) as resp:
                    try:
                        self.content.write_chunks(
                            iter(lambda: resp.read(1 << 20), b""), layer.digest, progress
                        )
                    except DigestMismatch:
                        raise InvalidArgument(
                            f"filesystem layer verification failed for digest {layer.digest}"
                        ) from None
                self.created_blobs.append(layer.digest)
                self.emit(layer.short, "Downloading", total, total)
        self.emit(layer.short, "Verifying Checksum")
        self.emit(layer.short, "Download complete")

    def _fetch_and_unpack(self, layer: _Layer) -> None:
        with self.download_slots:
            self._download(layer)
        with self.extract_slots:
            if self.cancel.is_set():
                raise Cancelled("cancelled")
            self._extract(layer)

    def _extract(self, layer: _Layer) -> None:
        def progress(n: int) -> None:
            if self.cancel.is_set():
                raise Cancelled("cancelled")
            self.extracted[layer.chain_id] = n

        existed = self.layers.exists(layer.chain_id)
        if not existed and self.journal is not None:
            self.journal.layer(layer.chain_id)
        with self.content.open(layer.digest) as blob:
            self.layers.add(
                layer.chain_id,
                layer.parent,
                layer.diff_id,
                CountingReader(blob, progress),  # type: ignore[arg-type]
                blob_digest=layer.digest,
            )
        if not existed:
            self.created_layers.append(layer.chain_id)

    def _report_extraction(self, layer: _Layer, task: Future[None]) -> None:
        """Progress of layer `layer`'s unpacking, in its turn."""
        total = int(layer.desc.get("size") or 0)
        while True:
            try:
                task.result(timeout=PROGRESS_INTERVAL)
                break
            except FutureTimeout:
                done = self.extracted.get(layer.chain_id, 0)
                if done:
                    self.emit(layer.short, "Extracting", done, total)
        self.emit(layer.short, "Extracting", total, total)
        self.emit(layer.short, "Pull complete")

    def _tag(self, image_id: str, manifest_digest: str) -> bool:
        """Point the pulled names at the image; True if a tag changed (or,
        for a pull by digest, if the image is new)."""
        changed = bool(self.ref.digest and self.image_id)
        names = [self.ref.repo_only.with_digest(manifest_digest)]
        if not self.ref.digest:
            names.insert(0, self.ref)
        for name in names:
            if self.store.ref_target(name) != image_id:
                self.store.set_ref(name, image_id)
                changed = changed or not name.digest
        return changed

    def _finish(self, manifest_digest: str, updated: bool) -> None:
        self.emit("", f"Digest: {manifest_digest}", detail=False)
        what = "Downloaded newer image" if updated else "Image is up to date"
        self.emit("", f"Status: {what} for {self.ref.familiar}", detail=False)
        self.store.events.emit("pull", self.ref.familiar, name=self.ref.familiar)


def pull_all_tags(
    store: ImageStore,
    text: str,
    platform: Platform | None = None,
    creds: Credentials | None = None,
    config: RegistryConfig | None = None,
    cancel: threading.Event | None = None,
    sources: BlobSources | None = None,
    journal_dir: Path | None = None,
) -> Iterator[ProgressEvent]:
    """`docker pull --all-tags`: each tag in turn, one final status line
    for the repository name, as dockerd's pullRepository."""
    ref = parse(text)
    if ref.tag or ref.digest:
        raise InvalidArgument("tag can't be used with --all-tags/-a")
    config = config or RegistryConfig()
    try:
        _, tags = with_fallback(ref, creds, config, lambda s: s.tags())
    except RegistryError as err:
        raise translate_error(err, ref) from err
    if not tags:
        raise NotFound(f"repository {ref.familiar_name} not found: no tags")
    updated = False
    for tag in tags:
        if cancel is not None and cancel.is_set():
            return
        one = Pull(
            store, str(ref.with_tag(tag)), platform, creds, config, cancel, sources, journal_dir
        )
        for ev in one.run():
            if ev.status.startswith("Status: "):
                updated = updated or ev.status.startswith("Status: Downloaded newer image")
                continue
            yield ev
            if ev.error:
                return
    what = "Downloaded newer image" if updated else "Image is up to date"
    yield ProgressEvent(status=f"Status: {what} for {ref.familiar_name}")
