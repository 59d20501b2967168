"""The pure rules behind test_conformance_e2e.py, against dockerd's answers:
driver option parsing, IPAM config validation, hosts lines per endpoint,
the internal resolver's ndots, PTR answers and `<name>.<network>`."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from hangu_network import dns, etcfiles, ipam
from hangu_network.bridgeopts import check_options
from hangu_network.names import NameIndex, NetworkNames
from hangu_runtime.errors import InvalidArgument


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"com.docker.network.driver.mtu": "abc"},
            "failed to parse com.docker.network.driver.mtu value: abc "
            '(strconv.Atoi: parsing "abc": invalid syntax)',
        ),
        ({"com.docker.network.driver.mtu": " 1500"}, "failed to parse"),
        ({"com.docker.network.driver.mtu": "-1"}, "invalid MTU number: -1"),
        ({"com.docker.network.driver.mtu": "70000"}, "invalid MTU number: 70000"),
        ({"com.docker.network.driver.mtu": "60"}, "invalid MTU number: 60"),
        (
            {"com.docker.network.bridge.enable_icc": "maybe"},
            "failed to parse com.docker.network.bridge.enable_icc value: maybe "
            '(strconv.ParseBool: parsing "maybe": invalid syntax)',
        ),
        (
            {"com.docker.network.bridge.enable_ip_masquerade": "yes"},
            "failed to parse com.docker.network.bridge.enable_ip_masquerade value: yes",
        ),
        (
            {"com.docker.network.bridge.host_binding_ipv4": "notip"},
            "failed to parse com.docker.network.bridge.host_binding_ipv4 value: notip (nil ip)",
        ),
    ],
)
def test_bad_options(options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        check_options(options)
    assert err.value.message.startswith(message)


def test_good_options() -> None:
    check_options(
        {
            "com.docker.network.driver.mtu": "+1400",
            "com.docker.network.bridge.enable_icc": "F",
            "com.docker.network.bridge.enable_ip_masquerade": "1",
            "com.docker.network.bridge.host_binding_ipv4": "::1",
            "com.example.other": "anything",
        }
    )


def test_ipam_config_in_dockers_words() -> None:
    def message(*pools: ipam.PoolConfig, ipv6: bool = True) -> str:
        with pytest.raises(InvalidArgument) as err:
            ipam.validate_config(list(pools), ipv6)
        return err.value.message

    assert message(("10.234.30.5/24", "", "", {})) == (
        "invalid network config:\ninvalid subnet 10.234.30.5/24: it should be 10.234.30.0/24"
    )
    assert message(("fd00:1::5/64", "", "", {})) == (
        "invalid network config:\ninvalid subnet fd00:1::5/64: it should be fd00:1::/64"
    )
    assert message(("10.234.0.0", "", "", {})).endswith("invalid CIDR block notation")
    assert message(("10.234.1.0/24", "10.234.2.0/25", "10.234.2.1", {"a": "fd00::1"})) == (
        "invalid network config:\n"
        "* invalid ip-range 10.234.2.0/25: parent subnet 10.234.1.0/24 doesn't contain ip-range\n"
        "* invalid gateway 10.234.2.1: parent subnet 10.234.1.0/24 doesn't contain this address\n"
        "* invalid auxiliary address a: parent subnet is an IPv4 block"
    )
    # IPv6 entries count only on an IPv6 network, as in Docker
    ipam.validate_config([("fd00:1::5/64", "", "", {})], False)
    ipam.validate_config([("10.234.1.0/24", "10.234.1.128/25", "10.234.1.1", {})], False)


def test_unassignable() -> None:
    v4 = ipaddress.ip_network("10.234.36.0/24")
    assert ipam.unassignable(v4) == {v4.network_address, v4.broadcast_address}
    v6 = ipaddress.ip_network("fd00:1::/64")
    assert ipam.unassignable(v6) == {v6.network_address}
    assert ipam.unassignable(ipaddress.ip_network("10.234.36.0/31")) == set()


def test_hosts_line_per_address_keeps_the_first_as_it_was() -> None:
    one = etcfiles.render_hosts(["10.1.0.2", "fd00::2"], "h", "", [])
    both = etcfiles.render_hosts(["10.1.0.2", "fd00::2", "10.2.0.3"], "h", "", [])
    assert both == one + "10.2.0.3\th\n"


@pytest.mark.parametrize(
    ("given", "written"),
    [
        ([], ["ndots:0"]),
        (["ndots:2"], ["ndots:2"]),
        (["use-vc"], ["use-vc", "ndots:0"]),
        (["ndots:x", "edns0"], ["edns0", "ndots:0"]),
        (["ndots:", "ndots:3"], ["ndots:3"]),
    ],
)
def test_internal_resolver_options(given: list[str], written: list[str]) -> None:
    assert etcfiles.internal_resolver_options(given) == written


def test_resolv_conf_internal_only() -> None:
    host = etcfiles.parse_resolv_conf("nameserver 10.1.1.1\noptions use-vc\n")
    assert "options use-vc ndots:0\n" in etcfiles.render_resolv_conf(
        host, ["10.3.0.1"], [], [], internal=True
    )
    assert "ndots" not in etcfiles.render_resolv_conf(host, [], [], [])


def test_ptr_answer() -> None:
    name = ipaddress.ip_address("10.234.1.2").reverse_pointer
    query = dns.build_query(7, name, dns.QTYPE_PTR)
    q = dns.parse_question(query)
    assert q is not None
    reply = dns.build_answer(query, q[4], q[1], dns.QTYPE_PTR, ["d1.nd"])
    assert struct.unpack("!H", reply[6:8])[0] == 1  # one answer
    assert reply.endswith(dns.encode_name("d1.nd"))
    assert dns.Records(ptr=("d1.nd",)).of_type(dns.QTYPE_A) == ()


class _Index(NameIndex):
    """A NameIndex over tables given in memory (no database)."""

    def __init__(self, tables: dict[str, NetworkNames]) -> None:
        self._given = tables

    def table(self, network_id: str) -> NetworkNames:
        return self._given[network_id]


def test_qualified_and_reverse_names_on_the_askers_networks() -> None:
    d1 = dns.Records(("10.2.0.2",))
    ptr = dns.Records(ptr=("d1.n.e",))
    first = NetworkNames(clients={"10.1.0.3": "c2"}, members={"c2"})
    second = NetworkNames(
        records={"d1": d1, "2.0.2.10.in-addr.arpa": ptr},
        clients={"10.2.0.2": "c1", "10.2.0.3": "c2"},
        members={"c1", "c2"},
    )
    lone = NetworkNames(clients={"10.3.0.3": "c3"}, members={"c3"})
    index = _Index({"n1": first, "n2": second, "n3": lone})
    ids = {"first": "n1", "n.e": "n2"}
    assert index._qualified("d1.n.e", "c2", ids) == d1
    assert index._qualified("d1.n.e", "c3", ids) is None  # not on that network
    assert index._qualified("d1.first", "c2", ids) is None
    assert index._reverse("2.0.2.10.in-addr.arpa", "c2", ["n1", "n2"]) == ptr
    assert index._reverse("2.0.2.10.in-addr.arpa", "c3", ["n1", "n2", "n3"]) is None
