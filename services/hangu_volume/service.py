"""Wiring of the volume service (database, domain, servicer), shared by
main.py and the tests."""

from __future__ import annotations

import grpc

from hangu.volume.v1 import volume_pb2_grpc as pb_grpc
from hangu_runtime.config import Settings
from hangu_runtime.db import open_database
from hangu_runtime.events import EventBus

from . import models
from .servicer import VolumeServicer
from .store import Volumes

SERVICE_NAME = "hangu.volume.v1.VolumeService"


class VolumeService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        root = settings.data_dir("volume")
        self.engine = open_database(root / "volume.db", models.VolumeBase.metadata)
        self.volumes = Volumes(root, self.engine, EventBus())
        self.servicer = VolumeServicer(self.volumes)

    def register(self, server: grpc.Server) -> list[str]:
        pb_grpc.add_VolumeServiceServicer_to_server(self.servicer, server)
        return [SERVICE_NAME]

    def purge(self) -> None:
        """Test-time teardown: unmount driver-option mounts (plain volume
        folders are data, not kernel state, and stay)."""
        self.volumes.purge_mounts()

    def close(self) -> None:
        self.engine.dispose()

    def stop(self) -> None:
        """After the server drained: purge first only with purge_on_stop."""
        if self.settings.purge_on_stop:
            self.purge()
        self.close()
