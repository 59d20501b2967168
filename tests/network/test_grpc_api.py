"""The network service's gRPC API contract through pytest-grpc: the real
NetworkServicer (conftest: pg_network, grpc_*) on a temporary root, with its
own bridge, nftables table and subnet pool. Predefined networks, a user
network's lifecycle with Docker's errors, sandboxes in none and bridge mode."""

from __future__ import annotations

import os
import secrets
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import grpc
import pytest
from pyroute2 import IPRoute

from hangu.network.v1 import network_pb2 as pb

from .conftest import PG_POOL, bridge_gone, link_exists, ns_run

pytestmark = pytest.mark.root

# Wait-free unary calls, but a few may overlap (the plugin's default is one).
grpc_max_workers = 8


def _err(fn: Any, req: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        fn(req)
    return err.value.code(), err.value.details()


def test_predefined_networks_listed(grpc_stub: Any, pg_network: Any) -> None:
    nets = {n.name: n for n in grpc_stub.List(pb.ListNetworksRequest()).networks}
    assert {"bridge", "host", "none"} <= set(nets)
    assert (nets["bridge"].driver, nets["host"].driver, nets["none"].driver) == (
        "bridge",
        "host",
        "null",
    )
    bridge = nets["bridge"]
    assert len(bridge.id) == 64 and bridge.scope == "local"
    assert bridge.bridge_name == pg_network.settings.bridge
    assert link_exists(bridge.bridge_name)
    subnet = IPv4Network(bridge.ipam.config[0].subnet)
    assert subnet.subnet_of(IPv4Network(PG_POOL.split(":")[0])) and subnet.prefixlen == 24
    assert IPv4Address(bridge.ipam.config[0].gateway) == subnet.network_address + 1
    assert grpc_stub.Get(pb.GetNetworkRequest(reference="bridge")).id == bridge.id


def test_user_network_create_get_remove(grpc_stub: Any) -> None:
    name = "hgpnet-" + secrets.token_hex(3)
    net = grpc_stub.Create(pb.CreateNetworkRequest(name=name))
    try:
        assert len(net.id) == 64 and net.name == name and net.driver == "bridge"
        assert link_exists(net.bridge_name)
        assert IPv4Network(net.ipam.config[0].subnet).subnet_of(IPv4Network("10.209.0.0/16"))
        assert grpc_stub.Get(pb.GetNetworkRequest(reference=name)).id == net.id
        assert grpc_stub.Get(pb.GetNetworkRequest(reference=net.id[:10])).name == name
        assert _err(grpc_stub.Create, pb.CreateNetworkRequest(name=name)) == (
            grpc.StatusCode.ABORTED,
            f"network with name {name} already exists",
        )
        assert _err(grpc_stub.Get, pb.GetNetworkRequest(reference="hgpnosuch")) == (
            grpc.StatusCode.NOT_FOUND,
            "network hgpnosuch not found",
        )
        assert (
            _err(grpc_stub.Remove, pb.RemoveNetworkRequest(reference="hgpnosuch"))[0]
            == grpc.StatusCode.NOT_FOUND
        )
        assert _err(grpc_stub.Remove, pb.RemoveNetworkRequest(reference="bridge")) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "bridge is a pre-defined network and cannot be removed",
        )
    finally:
        grpc_stub.Remove(pb.RemoveNetworkRequest(reference=net.id))
    assert bridge_gone(net.bridge_name)
    assert _err(grpc_stub.Get, pb.GetNetworkRequest(reference=name))[0] == grpc.StatusCode.NOT_FOUND
    assert name not in {n.name for n in grpc_stub.List(pb.ListNetworksRequest()).networks}


def test_sandbox_none_mode(grpc_stub: Any) -> None:
    cid = secrets.token_hex(32)
    sb = grpc_stub.CreateSandbox(pb.CreateSandboxRequest(container_id=cid, network_mode="none"))
    try:
        assert sb.container_id == cid and not sb.endpoints
        assert os.path.exists(sb.netns_path)
        links = ns_run(sb.netns_path, "ip", "-o", "link").stdout.strip().splitlines()
        assert len(links) == 1 and ": lo:" in links[0] and "UP" in links[0]
        assert (
            grpc_stub.GetSandbox(pb.GetSandboxRequest(container_id=cid)).netns_path == sb.netns_path
        )
    finally:
        grpc_stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=cid))
    assert not os.path.exists(sb.netns_path)
    assert (
        _err(grpc_stub.GetSandbox, pb.GetSandboxRequest(container_id=cid))[0]
        == grpc.StatusCode.NOT_FOUND
    )


def test_sandbox_bridge_mode(grpc_stub: Any, pg_network: Any) -> None:
    cid = secrets.token_hex(32)
    sb = grpc_stub.CreateSandbox(
        pb.CreateSandboxRequest(
            container_id=cid, container_name="pg", hostname="pghost", network_mode="bridge"
        )
    )
    try:
        assert os.path.exists(sb.netns_path) and sb.network_mode == "bridge"
        (ep,) = sb.endpoints
        bridge = grpc_stub.Get(pb.GetNetworkRequest(reference="bridge"))
        assert ep.network_name == "bridge" and ep.network_id == bridge.id
        assert ep.interface_name == "eth0"
        assert IPv4Address(ep.ipv4_address) in IPv4Network(bridge.ipam.config[0].subnet)
        assert ep.gateway == bridge.ipam.config[0].gateway
        addr = ns_run(sb.netns_path, "ip", "-4", "-o", "addr", "show", "eth0").stdout
        assert f"inet {ep.ipv4_address}/{ep.ipv4_prefix_len}" in addr
        assert ns_run(sb.netns_path, "busybox", "ping", "-c1", "-W1", ep.gateway).returncode == 0
        with open(sb.hostname_path) as fh:
            assert fh.read().strip() == "pghost"
        assert cid in grpc_stub.Get(pb.GetNetworkRequest(reference="bridge")).containers
    finally:
        grpc_stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=cid))
    assert not os.path.exists(sb.netns_path)
    pg_network.sandboxes.drain()  # veth deletion runs off the exit path
    with IPRoute() as ipr:
        assert not [i for i in ipr.get_links() if i.get_attr("IFLA_ADDRESS") == ep.mac_address]
    assert cid not in grpc_stub.Get(pb.GetNetworkRequest(reference="bridge")).containers
