"""The Publisher against the kernel: real sockets, a scratch nftables table
(hgq_<rand>), host ports 21200-21299 on loopback."""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator

import pytest

from hangu_network.nft import Nft
from hangu_network.ports import PortRequest, Publisher, ephemeral_range
from hangu_runtime.errors import Internal

pytestmark = pytest.mark.root

EP = ("web", "e" * 64)


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    nft = Nft(f"hgq_{secrets.token_hex(3)}")
    nft.ensure_table()
    pub = Publisher(nft)
    try:
        yield pub
    finally:
        pub.close()
        nft.delete_table()


def elements(pub: Publisher) -> str:
    return pub.nft.run(f"list table inet {pub.nft.table}")[1]


def test_unspecified_host_ip_binds_v4_and_v6_on_one_port(publisher: Publisher) -> None:
    rules = publisher.publish([PortRequest("tcp", 80, "", 21201)], "10.212.9.2", "", EP)
    assert [(r.host_ip, r.host_port) for r in rules] == [("0.0.0.0", 21201), ("::", 21201)]
    assert "tcp . 21201 : 10.212.9.2 . 80" in elements(publisher)
    publisher.unpublish(rules)
    assert "21201" not in elements(publisher)


def test_allocated_wording_names_the_holder(publisher: Publisher) -> None:
    publisher.publish([PortRequest("tcp", 80, "0.0.0.0", 21202)], "10.212.9.2", "", EP)
    with pytest.raises(Internal) as err:
        publisher.publish([PortRequest("tcp", 80, "127.0.0.1", 21202)], "10.212.9.3", "", EP)
    assert err.value.message == (
        "failed to set up container networking: driver failed programming external "
        f"connectivity on endpoint web ({EP[1]}): "
        "Bind for 0.0.0.0:21202 failed: port is already allocated"
    )
    # another protocol, or the other family, is another port
    publisher.publish([PortRequest("udp", 80, "127.0.0.1", 21202)], "10.212.9.3", "", EP)
    publisher.publish([PortRequest("tcp", 80, "::1", 21202)], "10.212.9.3", "", EP)


def test_failure_undoes_the_whole_request(publisher: Publisher) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 21204))
        held.listen()
        with pytest.raises(Internal) as err:
            publisher.publish(
                [
                    PortRequest("tcp", 80, "127.0.0.1", 21203),
                    PortRequest("tcp", 81, "127.0.0.1", 21204),
                ],
                "10.212.9.2",
                "",
                EP,
            )
    assert err.value.message.endswith(
        "failed to bind host port 127.0.0.1:21204/tcp: address already in use"
    )
    assert "21203" not in elements(publisher)
    assert publisher.host_ports.held() == []


def test_range_and_ephemeral(publisher: Publisher) -> None:
    a = publisher.publish([PortRequest("tcp", 80, "127.0.0.1", 21205, 21206)], "10.212.9.2", "", EP)
    b = publisher.publish([PortRequest("tcp", 80, "127.0.0.1", 21205, 21206)], "10.212.9.3", "", EP)
    assert [a[0].host_port, b[0].host_port] == [21205, 21206]
    with pytest.raises(Internal, match="all ports are allocated"):
        publisher.publish([PortRequest("tcp", 80, "127.0.0.1", 21205, 21206)], "10.212.9.4", "", EP)
    low, high = ephemeral_range()
    e1 = publisher.publish([PortRequest("tcp", 80, "127.0.0.1")], "10.212.9.5", "", EP)[0]
    publisher.unpublish([e1])
    e2 = publisher.publish([PortRequest("tcp", 80, "127.0.0.1")], "10.212.9.5", "", EP)[0]
    assert (
        low <= e1.host_port <= high and e2.host_port != e1.host_port
    )  # not handed out again at once


def test_reservation_keeps_host_processes_out(publisher: Publisher) -> None:
    publisher.publish([PortRequest("udp", 53, "127.0.0.1", 21207)], "10.212.9.2", "", EP)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s, pytest.raises(OSError):
        s.bind(("127.0.0.1", 21207))


def test_elements_go_even_when_they_differ_or_are_missing(publisher: Publisher) -> None:
    from hangu_network.nft import PortRule

    nft = publisher.nft
    stored = PortRule("127.0.0.1", "tcp", 21290, "10.9.0.2", 80)
    nft.add_ports([stored])
    nft.add_network("hgq-x", ["10.9.0.0/24", "fd9e:9::/64"], ["10.9.0.1", "fd9e:9::1"])
    # A rule whose target differs from the stored one, and one never added:
    # the batch fails, the element-by-element path still removes by key.
    moved = PortRule("127.0.0.1", "tcp", 21290, "10.9.0.3", 80)
    nft.remove_ports([moved, PortRule("127.0.0.1", "tcp", 21291, "10.9.0.2", 80)])
    nft.remove_network("hgq-x", ["10.9.0.0/24", "fd9e:9::/64"], ["10.9.0.1", "fd9e:9::1"])
    listed = elements(publisher)
    assert "21290" not in listed and "hgq-x" not in listed and "10.9.0." not in listed
    assert "fd9e:9:" not in listed
