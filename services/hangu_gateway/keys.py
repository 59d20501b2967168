"""What the application and each request carry, and the keys to reach
them: the four services' stubs, the settings, the negotiated API version.

A leaf module (it imports nothing of the gateway), as podman keeps its
context keys in pkg/api/types: the app module fills these in and every
router reads them from here, so no router imports the app."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from aiohttp import web

from hangu.container.v1 import container_pb2_grpc
from hangu.image.v1 import image_pb2_grpc
from hangu.network.v1 import network_pb2_grpc
from hangu.volume.v1 import volume_pb2_grpc
from hangu_runtime.config import Settings
from hangu_runtime.version import API_VERSION as NEWEST_API_VERSION

from .uploads import Uploads


@dataclass
class Backends:
    """The four services, as grpc.aio stubs over their channels."""

    image: image_pb2_grpc.ImageServiceAsyncStub
    container: container_pb2_grpc.ContainerServiceAsyncStub
    network: network_pb2_grpc.NetworkServiceAsyncStub
    volume: volume_pb2_grpc.VolumeServiceAsyncStub
    channels: list[grpc.aio.Channel]
    uploads: Uploads

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()


BACKENDS: web.AppKey[Backends] = web.AppKey("backends", Backends)
SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
API_VERSION: web.RequestKey[str] = web.RequestKey("api_version", str)


def backends(request: web.Request) -> Backends:
    return request.app[BACKENDS]


def settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


def api_version(request: web.Request) -> str:
    """The version the request is served at (the middleware negotiates it
    before any handler runs; the newest when a request never went through)."""
    version: str = request.get(API_VERSION, NEWEST_API_VERSION)
    return version
