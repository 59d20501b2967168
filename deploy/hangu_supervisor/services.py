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
    # Services of one stage start together; a stage starts once the ones
    # before it answer.
    stage: int = 0
    # Whether the service owns kernel state that a purge pass must remove.
    purges: bool = True


def _grpc(name: str) -> Callable[[Settings], bool]:
    return lambda settings: probes.grpc_healthy(settings.grpc_socket(name))


# Start order: volume, network and image need nobody (they start together,
# which halves start-up time on two cores: most of it is Python imports);
# the container service needs those three (it re-checks its containers'
# sandboxes and root filesystems at start-up); the gateway talks to all four.
# Stop order is the reverse.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("volume", "hangu_volume.main", _grpc("volume"), stage=0),
    ServiceSpec("network", "hangu_network.main", _grpc("network"), stage=0),
    ServiceSpec("image", "hangu_image.main", _grpc("image"), stage=0),
    ServiceSpec("container", "hangu_container.main", _grpc("container"), stage=1),
    ServiceSpec(
        "gateway",
        "hangu_gateway.main",
        lambda settings: probes.gateway_pings(settings.docker_socket),
        stage=2,
        purges=False,
    ),
)

NAMES = tuple(spec.name for spec in SERVICES)


def spec(name: str) -> ServiceSpec:
    for candidate in SERVICES:
        if candidate.name == name:
            return candidate
    raise KeyError(f"unknown service {name!r} (one of {', '.join(NAMES)})")
