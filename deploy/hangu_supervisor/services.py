"""The five processes of a hangu stack, in start order, and how to tell
that each one is ready."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hangu_runtime.config import Settings

from . import probes


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    # True once the process answers on its socket.
    ready: Callable[[Settings], bool]
    # Whether the service owns kernel state that a purge pass must remove.
    purges: bool = True


def _grpc(name: str) -> Callable[[Settings], bool]:
    return lambda settings: probes.grpc_healthy(settings.grpc_socket(name))


# Start order: the volume and network services need nobody; the image service
# is needed by the container service; the gateway talks to all four.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("volume", "hangu_volume.main", _grpc("volume")),
    ServiceSpec("network", "hangu_network.main", _grpc("network")),
    ServiceSpec("image", "hangu_image.main", _grpc("image")),
    ServiceSpec("container", "hangu_container.main", _grpc("container")),
    ServiceSpec("gateway", "hangu_gateway.main",
                lambda settings: probes.gateway_pings(settings.docker_socket),
                purges=False),
)

NAMES = tuple(spec.name for spec in SERVICES)


def spec(name: str) -> ServiceSpec:
    for candidate in SERVICES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown service {name!r} (one of {', '.join(NAMES)})")
