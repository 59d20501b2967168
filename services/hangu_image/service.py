"""Wiring of the image service: the content store, layer store, image
metadata, root filesystems and distribution on the data root, reconciled
with what a crash left, and the gRPC servicer over them (main.py and the
tests use it alike)."""

from __future__ import annotations

import threading

import grpc

from hangu.image.v1 import image_pb2 as pb
from hangu.image.v1 import image_pb2_grpc as pb_grpc
from hangu_runtime.config import Settings
from hangu_runtime.events import EventBus

from .builder.builds import Builder
from .content import ContentStore
from .distribution import Distribution
from .images import ImageStore
from .layers import LayerStore
from .models import open_image_db
from .peers import ContainerClient
from .rootfs import RootfsStore
from .servicer import ImageServicer

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ImageService"].full_name


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
        self.builder = Builder(
            self.images,
            self.rootfs,
            self.distribution,
            ContainerClient(settings.grpc_target("container")),
            self.root / "build",
        )
        self.builder.clean()
        self.servicer = ImageServicer(self.images, self.rootfs, self.distribution, self.builder)

    def register(self, server: grpc.Server) -> list[str]:
        pb_grpc.add_ImageServiceServicer_to_server(self.servicer, server)
        return [SERVICE_NAME]

    def purge(self) -> None:
        """Unmount every container root filesystem (test-time teardown)."""
        self.rootfs.unmount_all()

    def close(self) -> None:
        self.events.close()
        self.engine.dispose()

    def stop(self) -> None:
        """After the server drained. Without purge_on_stop, mounted root
        filesystems stay mounted: running containers outlive the service."""
        if self.settings.purge_on_stop:
            self.purge()
        self.close()
