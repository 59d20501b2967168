"""IPAM and subnet picking: pure logic."""

from ipaddress import IPv4Address, IPv4Network

import pytest

from hangu_network import ipam
from hangu_runtime.errors import Conflict, HanguError, InvalidArgument


def test_pool_entries_and_split() -> None:
    nets = list(ipam.pool_subnets("10.201.0.0/16:24, 192.168.215.0/24"))
    assert nets[0] == IPv4Network("10.201.0.0/24")
    assert nets[255] == IPv4Network("10.201.255.0/24")
    assert nets[-1] == IPv4Network("192.168.215.0/24")
    assert len(nets) == 257


def test_pick_skips_host_routes_like_dockerd_and_eth0() -> None:
    pool = "172.17.0.0/16,192.0.2.0/24,10.88.0.0/16"
    avoid = [
        IPv4Network("0.0.0.0/0"),  # a default route overlaps all: ignored
        IPv4Network("172.17.0.0/16"),
        IPv4Network("192.0.2.0/24"),
    ]
    assert ipam.pick_subnet(pool, avoid) == IPv4Network("10.88.0.0/16")


def test_pick_skips_partial_overlap_and_exhaustion() -> None:
    assert ipam.pick_subnet("10.201.0.0/16:24", [IPv4Network("10.201.0.128/25")]) == IPv4Network(
        "10.201.1.0/24"
    )
    with pytest.raises(InvalidArgument, match="all predefined address pools have been fully"):
        ipam.pick_subnet("10.201.0.0/24", [IPv4Network("10.0.0.0/8")])


def test_default_pools_are_dockerds_thirty_one() -> None:
    from hangu_runtime.config import Settings

    nets = list(ipam.pool_subnets(Settings().subnet_pool))
    assert len(nets) == 31
    assert nets[0] == IPv4Network("172.17.0.0/16")
    assert nets[14] == IPv4Network("172.31.0.0/16")
    assert nets[15] == IPv4Network("192.168.0.0/20")
    assert nets[-1] == IPv4Network("192.168.240.0/20")
    # with dockerd's docker0 on the host, the first pick is the next /16
    assert ipam.pick_subnet(Settings().subnet_pool, [nets[0]]) == nets[1]


def test_allocate_lowest_free_skipping_gateway() -> None:
    net = IPv4Network("10.201.7.0/24")
    gw = ipam.default_gateway(net)
    assert gw == IPv4Address("10.201.7.1")
    assert ipam.allocate(net, set(), gw) == IPv4Address("10.201.7.2")
    used = {IPv4Address("10.201.7.2"), IPv4Address("10.201.7.3")}
    assert ipam.allocate(net, used, gw) == IPv4Address("10.201.7.4")


def test_allocate_requested_and_rejections() -> None:
    net = IPv4Network("10.201.7.0/24")
    gw = IPv4Address("10.201.7.1")
    assert ipam.allocate(net, set(), gw, "10.201.7.50") == IPv4Address("10.201.7.50")
    with pytest.raises(Conflict, match="Address already in use"):
        ipam.allocate(net, {IPv4Address("10.201.7.50")}, gw, "10.201.7.50")
    with pytest.raises(Conflict):
        ipam.allocate(net, set(), gw, "10.201.7.1")
    with pytest.raises(InvalidArgument, match="does not belong"):
        ipam.allocate(net, set(), gw, "10.201.8.5")
    with pytest.raises(InvalidArgument):
        ipam.allocate(net, set(), gw, "not-an-ip")


def test_allocate_ip_range_and_exhaustion() -> None:
    net = IPv4Network("10.201.7.0/24")
    assert ipam.allocate(net, set(), None, ip_range="10.201.7.128/25") == IPv4Address(
        "10.201.7.129"
    )
    small = IPv4Network("10.201.9.0/30")
    with pytest.raises(HanguError, match="no available"):
        ipam.allocate(small, {IPv4Address("10.201.9.2")}, IPv4Address("10.201.9.1"))


def test_mac_like_docker() -> None:
    assert ipam.mac_for(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"
