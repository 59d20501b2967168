"""The image service's domain facade: wires the content store, layer store,
image metadata, root filesystems and events together. Knows nothing of
gRPC; the servicer translates to and from protobuf."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hangu_runtime.config import Settings
from hangu_runtime.events import EventBus
from hangu_runtime.logging import get_logger

from . import archive, commit, diff, history, listing, prune, removal, save
from .content import ContentStore
from .distribution import Distribution
from .history import HistoryItem
from .images import ImageStore, ImageView
from .layers import LayerStore
from .models import open_image_db
from .platforms import Platform
from .progress import ProgressEvent
from .registry import Credentials
from .rootfs import RootfsInfo, RootfsStore

log = get_logger("hangu.image")


class ImageService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir("image")
        self.root.mkdir(parents=True, exist_ok=True)
        self.engine = open_image_db(self.root / "image.db")
        self.db_lock = threading.Lock()
        self.content = ContentStore(self.root / "content")
        self.layers = LayerStore(self.root, self.engine, self.db_lock, self.content)
        self.events = EventBus()
        self.images = ImageStore(self.engine, self.db_lock, self.content, self.layers, self.events)
        self.rootfs = RootfsStore(self.root, self.engine, self.db_lock, self.images, self.layers)
        # Whatever a crash left half-done is garbage: nothing references it.
        self.content.clean_ingest()
        self.layers.clean_tmp()
        self.layers.reconcile()
        self.rootfs.clean_partial()
        # After the reconciliation: undoes the pulls a crash interrupted.
        self.distribution = Distribution(self.images, settings)

    # ------------------------------------------------------------ distribution
    # (distribution.py); `cancel`, when given, is set when the client goes away.
    def pull(
        self,
        reference: str,
        platform: Platform | None = None,
        creds: Credentials | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[ProgressEvent]:
        return self.distribution.pull(reference, platform, creds, cancel)

    def pull_all_tags(
        self,
        reference: str,
        platform: Platform | None = None,
        creds: Credentials | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[ProgressEvent]:
        return self.distribution.pull_all_tags(reference, platform, creds, cancel)

    def push(
        self,
        reference: str,
        all_tags: bool,
        creds: Credentials | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[ProgressEvent]:
        return self.distribution.push(reference, all_tags, creds, cancel)

    def login(self, server: str, creds: Credentials) -> str:
        return self.distribution.login(server, creds)

    def distribution_inspect(self, reference: str, creds: Credentials | None) -> dict[str, Any]:
        return self.distribution.inspect(reference, creds)

    # ------------------------------------------------------------ archives
    def load(self, chunks: Iterable[bytes], quiet: bool) -> Iterator[ProgressEvent]:
        return archive.load(self.images, chunks, quiet)

    def import_(
        self,
        chunks: Iterable[bytes],
        repository: str,
        tag: str,
        message: str,
        changes: list[str],
        platform: Platform | None,
    ) -> ProgressEvent:
        return archive.import_rootfs(
            self.images,
            chunks,
            repository,
            tag,
            message,
            changes,
            platform.architecture if platform else "",
            platform.os if platform else "linux",
        )

    def save(self, references: list[str], stop: threading.Event | None = None) -> Iterator[bytes]:
        return save.save(self.images, references, stop)

    # ------------------------------------------------------------ metadata
    def get(self, reference: str) -> ImageView:
        return self.images.cached_view(reference)

    def list_images(
        self, filters: dict[str, list[str]], all_: bool = False, shared_size: bool = False
    ) -> listing.Listing:
        return listing.list_images(self.images, filters, all_, shared_size)

    def tag(self, source: str, target: str) -> None:
        removal.tag(self.images, source, target)

    def remove(
        self, reference: str, force: bool, used_by: list[str], running: list[str]
    ) -> removal.RemoveResult:
        return removal.remove(self.images, reference, force, used_by, running)

    def prune(
        self, filters: dict[str, list[str]], in_use: list[str]
    ) -> tuple[removal.RemoveResult, int]:
        return prune.prune(self.images, filters, in_use)

    def history(self, reference: str) -> list[HistoryItem]:
        return history.history(self.images, self.get(reference))

    # ------------------------------------------------------------ rootfs
    def prepare_rootfs(self, container_id: str, image: str) -> RootfsInfo:
        return self.rootfs.prepare(container_id, image)

    def mount_rootfs(self, container_id: str) -> RootfsInfo:
        return self.rootfs.mount(container_id)

    def unmount_rootfs(self, container_id: str) -> None:
        self.rootfs.unmount(container_id)

    def remove_rootfs(self, container_id: str) -> None:
        self.rootfs.remove(container_id)

    def changes(self, container_id: str) -> list[tuple[str, int]]:
        info = self.rootfs.get(container_id)
        return diff.changes(Path(info.upper_dir), info.lower_dirs)

    def export(self, container_id: str, stop: threading.Event | None = None) -> Iterator[bytes]:
        """The merged root filesystem as a tar; mounts it for the while if
        it is not mounted (a stopped container)."""
        was_mounted = bool(self.rootfs.get(container_id).path)
        info = self.rootfs.mount(container_id)
        try:
            yield from diff.stream_tar(
                lambda out: diff.write_rootfs_tar(Path(info.path), out), stop
            )
        finally:
            if not was_mounted:
                self.rootfs.unmount(container_id)

    def commit(
        self,
        container_id: str,
        repository: str,
        tag: str,
        comment: str,
        author: str,
        changes: list[str],
        container_config: dict[str, Any] | None,
    ) -> str:
        return commit.commit(
            self.images,
            self.rootfs,
            container_id,
            repository,
            tag,
            comment,
            author,
            changes,
            container_config,
        )

    def purge(self) -> None:
        """HANGU_PURGE_ON_STOP: unmount every container root filesystem."""
        self.rootfs.unmount_all()

    def close(self) -> None:
        self.events.close()
        self.engine.dispose()
