"""Wiring of the container service: the runtime, the database (converted
from an earlier version's once), the domain objects reconciled with what
conmon left behind, and the servicer. Shared by main.py and the tests."""

from __future__ import annotations

import dataclasses

import grpc

from hangu.container.v1 import container_pb2, container_pb2_grpc
from hangu_runtime.config import Settings

from . import migration, seccomp
from .execs import Execs
from .health import HealthChecks
from .lifecycle import Lifecycle
from .peers import Peers
from .registry import Registry
from .runtime import Runtime, RuntimePaths, remove_cgroup_parent
from .servicer import ContainerServicer
from .store import Store
from .streams import Streams

SERVICE_NAME = container_pb2.DESCRIPTOR.services_by_name["ContainerService"].full_name


class ContainerService:
    def __init__(self, settings: Settings, peers: Peers | None = None) -> None:
        self.settings = settings
        seccomp.use_profile(settings.seccomp_profile)
        paths = RuntimePaths(settings.run_dir("container"), settings.data_dir("container"))
        runtime = Runtime(
            paths, runc=settings.runtime, conmon=settings.conmon, init=settings.init_path
        )
        store = Store(settings.data_dir("container") / "container.db")
        migration.migrate(store.engine, store)
        peers = peers or Peers(settings)
        self.lifecycle = Lifecycle(Registry(store), runtime, peers, settings.cgroup_parent)
        self.lifecycle.startup()
        self.streams = Streams(self.lifecycle)
        self.execs = Execs(self.lifecycle)
        # Hooks itself into the lifecycle (starts, exits); checks the
        # containers found running.
        self.health = HealthChecks(self.lifecycle, self.execs)
        self.servicer = ContainerServicer(self.lifecycle, self.streams, self.execs)

    def register(self, server: grpc.Server) -> list[str]:
        container_pb2_grpc.add_ContainerServiceServicer_to_server(self.servicer, server)
        return [SERVICE_NAME]

    def stop(self) -> None:
        """Containers outlive the service, unless settings.purge_on_stop:
        then every container, its conmon and its cgroups go too."""
        purge = self.settings.purge_on_stop
        self.lifecycle.shutdown(purge=purge)
        if purge:
            remove_cgroup_parent(self.lifecycle.cgroup_parent)


def build(
    settings: Settings, peers: Peers | None = None, parent: str | None = None
) -> tuple[Lifecycle, ContainerServicer]:
    """The domain objects and servicer (tests that serve them themselves);
    `parent` overrides settings.cgroup_parent."""
    if parent is not None:
        settings = dataclasses.replace(settings, cgroup_parent=parent)
    service = ContainerService(settings, peers)
    return service.lifecycle, service.servicer
