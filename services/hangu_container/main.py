"""`python -m hangu_container.main`: the container service on its unix
socket. On SIGTERM it leaves containers running (they outlive the service),
unless HANGU_PURGE_ON_STOP=1: then it kills and deletes every container,
its conmon, and asks the peers to drop sandboxes and root filesystems."""

from __future__ import annotations

import os

import grpc

from hangu.container.v1 import container_pb2, container_pb2_grpc
from hangu_runtime import logging as hlog
from hangu_runtime.config import Settings, load_settings
from hangu_runtime.server import serve

from .lifecycle import Lifecycle
from .peers import Peers
from .registry import Registry
from .runtime import Runtime, RuntimePaths, remove_cgroup_parent
from .servicer import ContainerServicer
from .store import Store
from .streams import Streams

SERVICE_NAME = container_pb2.DESCRIPTOR.services_by_name["ContainerService"].full_name


def cgroup_parent() -> str:
    return os.environ.get("HANGU_CGROUP_PARENT", "/hangu")


def build(
    settings: Settings, peers: Peers | None = None, parent: str | None = None
) -> tuple[Lifecycle, ContainerServicer]:
    """The service's domain objects and servicer, reconciled with what
    conmon left behind (used by main and by tests)."""
    paths = RuntimePaths(settings.run_dir("container"), settings.data_dir("container"))
    rt = Runtime(paths, runc=settings.runtime, conmon=settings.conmon)
    registry = Registry(Store(settings.data_dir("container") / "container.db"))
    lc = Lifecycle(registry, rt, peers or Peers(settings), parent or cgroup_parent())
    lc.startup()
    return lc, ContainerServicer(lc, Streams(lc))


def main() -> None:
    settings = load_settings()
    hlog.configure("container", settings.log_level)
    lc, servicer = build(settings)

    def register(server: grpc.Server) -> list[str]:
        container_pb2_grpc.add_ContainerServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    def on_stop() -> None:
        purge = os.environ.get("HANGU_PURGE_ON_STOP") == "1"
        lc.shutdown(purge=purge)
        if purge:
            remove_cgroup_parent(lc.cgroup_parent)

    serve(
        "container",
        settings.grpc_socket("container"),
        register,
        max_workers=settings.grpc_workers,
        max_concurrent=settings.grpc_max_concurrent,
        on_stop=on_stop,
    )


if __name__ == "__main__":
    main()
