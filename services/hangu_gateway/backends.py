"""Channels to the four services, as grpc.aio stubs. Every call carries
the current request id in its metadata (`x-request-id`): the channels'
interceptor adds it, so handlers pass nothing per call."""

from __future__ import annotations

from grpc import aio

from hangu.container.v1 import container_pb2_grpc
from hangu.image.v1 import image_pb2_grpc
from hangu.network.v1 import network_pb2_grpc
from hangu.volume.v1 import volume_pb2_grpc
from hangu_runtime.clients import CHANNEL_OPTIONS, aio_interceptors
from hangu_runtime.config import Settings

from .keys import Backends
from .uploads import Uploads

_OPTIONS: list[tuple[str, int]] = [
    *CHANNEL_OPTIONS,
    # The services restart independently; reconnect quickly when they do.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def connect(settings: Settings) -> Backends:
    """Channels are lazy: nothing connects until the first call, so the
    gateway may start before the services."""
    interceptors = aio_interceptors()
    chans = {
        svc: aio.insecure_channel(
            settings.grpc_target(svc), options=_OPTIONS, interceptors=interceptors
        )
        for svc in ("image", "container", "network", "volume")
    }
    return Backends(
        image=image_pb2_grpc.ImageServiceStub(chans["image"]),
        container=container_pb2_grpc.ContainerServiceStub(chans["container"]),
        network=network_pb2_grpc.NetworkServiceStub(chans["network"]),
        volume=volume_pb2_grpc.VolumeServiceStub(chans["volume"]),
        channels=list(chans.values()),
        uploads=Uploads(chans["image"]),
    )
