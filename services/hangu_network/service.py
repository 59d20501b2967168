"""Wiring of the network service: database, kernel handles, domain objects
and the gRPC servicer, started and stopped in one place (main.py and the
tests use it alike)."""

from __future__ import annotations

import time

import grpc

from hangu.network.v1 import network_pb2_grpc as pb_grpc
from hangu_runtime import logging as hlog
from hangu_runtime.config import Settings
from hangu_runtime.db import open_database
from hangu_runtime.events import EventBus

from . import models
from .attachments import Attachments
from .dns import DnsServer
from .links import HostLinks
from .networks import Networks
from .nft import Nft
from .reaper import retired_group
from .sandboxes import Sandboxes
from .servicer import NetworkServicer

log = hlog.get_logger("hangu.network")

SERVICE_NAME = "hangu.network.v1.NetworkService"


class NetworkService:
    def __init__(self, settings: Settings) -> None:
        t0 = time.perf_counter()
        self.settings = settings
        self.engine = open_database(
            settings.data_dir("network") / "network.db", models.NetworkBase.metadata
        )
        self.links = HostLinks(retired_group(settings.bridge))
        self.nft = Nft(settings.nft_table)
        self.dns = DnsServer(defaults=settings.dns)
        self.networks = Networks(settings, self.engine, self.links, self.nft, EventBus(), self.dns)
        self.attachments = Attachments(self.networks)
        self.sandboxes = Sandboxes(settings, self.networks, self.attachments)
        self.networks.startup()
        self.sandboxes.reap_orphans()
        self.sandboxes.restore_ports()
        self.sandboxes.restore_resolvers()
        self.servicer = NetworkServicer(self.networks, self.sandboxes)
        log.info(
            "network_ready",
            ms=round((time.perf_counter() - t0) * 1000, 2),
            bridge=settings.bridge,
            nft_table=settings.nft_table,
        )

    def register(self, server: grpc.Server) -> list[str]:
        pb_grpc.add_NetworkServiceServicer_to_server(self.servicer, server)
        return [SERVICE_NAME]

    def purge(self) -> None:
        """Remove every piece of kernel state this service made: sandboxes
        (netns, veths, published ports), bridges, DOCKER-USER rules and the
        nftables table. Only for test-time teardown (purge_on_stop)."""
        self.sandboxes.purge()
        self.networks.purge_kernel()
        log.info("network_purged")

    def close(self) -> None:
        self.dns.close()
        self.networks.close()
        self.sandboxes.close()
        self.links.close()
        self.engine.dispose()

    def stop(self) -> None:
        """After the server drained. Without purge_on_stop, namespaces,
        veths, bridges and rules stay: containers keep running and keep
        their network."""
        if self.settings.purge_on_stop:
            self.purge()
        self.close()
