"""A network service on a temporary root, unique bridge, nftables table and
subnet pool, behind its real gRPC server on a temporary unix socket. Shared
by the module's tests (session scope) and torn down with a purge."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.network.v1 import network_pb2_grpc as pb_grpc
from hangu_runtime.config import Settings, load_settings
from hangu_runtime.server import build_server
from tests.support.stack import Stack

POOL = "10.201.0.0/16:24"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
IP6_FORWARD = Path("/proc/sys/net/ipv6/conf/all/forwarding")


def test_settings(tmp: str, suffix: str) -> Settings:
    return load_settings(
        {
            "HANGU_ROOT": f"{tmp}/root",
            "HANGU_RUN": f"{tmp}/run",
            "HANGU_BRIDGE": f"hgn{suffix}",
            "HANGU_SUBNET_POOL": POOL,
            "HANGU_NFT_TABLE": f"hgn_{suffix}",
        }
    )


def ns_run(netns_path: str, *cmd: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nsenter", f"--net={netns_path}", *cmd],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def link_exists(name: str) -> bool:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def bridge_gone(name: str, timeout: float = 10) -> bool:
    """A removed network's bridge goes down off the request path (teardown.py)."""
    import time

    deadline = time.monotonic() + timeout
    while link_exists(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def ping(netns_path: str, address: str) -> bool:
    return ns_run(netns_path, "busybox", "ping", "-c1", "-W1", address).returncode == 0


@dataclass
class NetEnv:
    settings: Settings
    service: object
    stub: pb_grpc.NetworkServiceStub
    tmp: str


@pytest.fixture(scope="session")
def net_env() -> Iterator[NetEnv]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from hangu_network.service import NetworkService

    forward, forward6 = IP_FORWARD.read_text(), IP6_FORWARD.read_text()
    tmp = tempfile.mkdtemp(prefix="hgt-net-", dir="/tmp")
    settings = test_settings(tmp, secrets.token_hex(3))
    service = NetworkService(settings)
    server = build_server(32, 30)
    service.register(server)
    sock = settings.grpc_socket("network")
    sock.parent.mkdir(parents=True, exist_ok=True)
    server.add_insecure_port(f"unix://{sock}")
    server.start()
    channel = grpc.insecure_channel(f"unix://{sock}")
    try:
        yield NetEnv(settings, service, pb_grpc.NetworkServiceStub(channel), tmp)
    finally:
        channel.close()
        server.stop(0).wait()
        service.purge()
        service.close()
        IP_FORWARD.write_text(forward)
        IP6_FORWARD.write_text(forward6)
        shutil.rmtree(tmp, ignore_errors=True)


# -- pytest-grpc: the real NetworkServicer registered through the plugin's
# module-scoped fixtures (test_grpc_api.py). Only modules that ask for
# grpc_stub build this service; its bridge, nftables table and pool are its
# own, so it runs alongside net_env without sharing kernel state.
PG_POOL = "10.209.0.0/16:24"


@pytest.fixture(scope="module")
def pg_network() -> Iterator[object]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from hangu_network.service import NetworkService

    forward = IP_FORWARD.read_text()
    tmp = tempfile.mkdtemp(prefix="hgt-pg-", dir="/tmp")
    suffix = secrets.token_hex(3)
    settings = load_settings(
        {
            "HANGU_ROOT": f"{tmp}/root",
            "HANGU_RUN": f"{tmp}/run",
            "HANGU_BRIDGE": f"hgp{suffix}",
            "HANGU_SUBNET_POOL": PG_POOL,
            "HANGU_NFT_TABLE": f"hgp_{suffix}",
        }
    )
    service = NetworkService(settings)
    try:
        yield service
    finally:
        service.purge()
        service.close()
        IP_FORWARD.write_text(forward)
        shutil.rmtree(tmp, ignore_errors=True)
    # Nothing of ours may outlive the module.
    assert (
        subprocess.run(
            ["ip", "link", "show", settings.bridge], capture_output=True, check=False
        ).returncode
        != 0
    )
    assert (
        subprocess.run(
            ["nft", "list", "table", "inet", settings.nft_table], capture_output=True, check=False
        ).returncode
        != 0
    )
    assert tmp not in Path("/proc/self/mountinfo").read_text()


@pytest.fixture(scope="module")
def grpc_interceptors() -> list[object]:
    from hangu_runtime.server import ErrorAndLogInterceptor

    return [ErrorAndLogInterceptor()]


@pytest.fixture(scope="module")
def grpc_add_to_server() -> object:
    return pb_grpc.add_NetworkServiceServicer_to_server


@pytest.fixture(scope="module")
def grpc_servicer(pg_network: object) -> object:
    return pg_network.servicer  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def grpc_stub_cls(grpc_channel: object) -> object:
    return pb_grpc.NetworkServiceStub


@pytest.fixture(scope="module")
def busybox(stack: Any, busybox_docker_archive: Path) -> str:
    """busybox loaded into the module's stack (its `stack` fixture)."""
    stack.load_image(busybox_docker_archive)
    return "busybox"


@pytest.fixture()
def cleanup(stack: Stack) -> Iterator[list[str]]:
    """Names to remove afterwards, containers first, then networks (for the
    end-to-end modules, each with its own `stack`)."""
    names: list[str] = []
    yield names
    for name in reversed(names):
        if stack.run_docker("rm", "-f", name).returncode != 0:
            stack.run_docker("network", "rm", name)
