"""Channels to the four services, as grpc.aio stubs, plus the request id
every call carries in its metadata (`x-request-id`)."""

from __future__ import annotations

import grpc

from hangu.container.v1 import container_pb2_grpc
from hangu.image.v1 import image_pb2_grpc
from hangu.network.v1 import network_pb2_grpc
from hangu.volume.v1 import volume_pb2_grpc
from hangu_runtime import logging as hlog
from hangu_runtime.config import Settings

from .keys import Backends

_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    # The services restart independently; reconnect quickly when they do.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


def metadata() -> tuple[tuple[str, str], ...]:
    """Metadata for one call: the current HTTP request's id."""
    rid = hlog.request_id.get()
    return ((hlog.REQUEST_ID_KEY, rid),) if rid else ()


def connect(settings: Settings) -> Backends:
    """Channels are lazy: nothing connects until the first call, so the
    gateway may start before the services."""
    chans = {
        svc: grpc.aio.insecure_channel(settings.grpc_target(svc), options=_OPTIONS)
        for svc in ("image", "container", "network", "volume")
    }
    return Backends(
        image=image_pb2_grpc.ImageServiceStub(chans["image"]),
        container=container_pb2_grpc.ContainerServiceStub(chans["container"]),
        network=network_pb2_grpc.NetworkServiceStub(chans["network"]),
        volume=volume_pb2_grpc.VolumeServiceStub(chans["volume"]),
        channels=list(chans.values()),
    )
