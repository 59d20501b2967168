"""hosts and resolv.conf rendering: pure logic."""

import pytest

from hangu_network import etcfiles
from hangu_runtime.errors import InvalidArgument


def test_hosts_like_docker() -> None:
    extra = etcfiles.parse_extra_hosts(["db:10.201.3.9", "v6:::1"])
    text = etcfiles.render_hosts(["10.201.3.2"], "web", "", extra)
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[1] == "::1\tlocalhost ip6-localhost ip6-loopback"
    assert "10.201.3.9\tdb" in lines and "::1\tv6" in lines
    assert lines[-1] == "10.201.3.2\tweb"
    assert text.endswith("\n")


def test_hosts_domain_and_no_ip() -> None:
    assert (
        etcfiles.render_hosts(["10.0.0.2"], "h", "example.org", []).splitlines()[-1]
        == "10.0.0.2\th.example.org h"
    )
    assert "\th" not in etcfiles.render_hosts([], "h", "", [])


def test_bad_extra_host() -> None:
    with pytest.raises(InvalidArgument):
        etcfiles.parse_extra_hosts(["db:not-ip"])


def test_host_gateway_is_the_default_bridge_gateway() -> None:
    extra = etcfiles.parse_extra_hosts(
        ["host.docker.internal:host-gateway", "gw=host-gateway"], ["10.201.0.1"]
    )
    assert extra == [("10.201.0.1", "host.docker.internal"), ("10.201.0.1", "gw")]
    with pytest.raises(InvalidArgument, match="host-gateway"):
        etcfiles.parse_extra_hosts(["h:host-gateway"])


def test_resolv_conf_drops_loopback_and_falls_back() -> None:
    host = etcfiles.parse_resolv_conf("nameserver 127.0.0.53\noptions edns0\nsearch corp\n")
    text = etcfiles.render_resolv_conf(host, [], [], [])
    assert "nameserver 8.8.8.8" in text and "nameserver 8.8.4.4" in text
    assert "127.0.0.53" not in text
    assert "search corp" in text and "options edns0" in text


def test_resolv_conf_keeps_host_servers_and_drops_ipv6() -> None:
    host = etcfiles.parse_resolv_conf("# c\nnameserver 10.255.255.53\nnameserver fd00::1\n")
    text = etcfiles.render_resolv_conf(host, [], [], [])
    assert "nameserver 10.255.255.53" in text
    assert "fd00::1" not in text and "8.8.8.8" not in text


def test_resolv_conf_request_overrides() -> None:
    host = etcfiles.parse_resolv_conf("nameserver 10.1.1.1\nsearch a\noptions x\n")
    text = etcfiles.render_resolv_conf(host, ["1.1.1.1"], ["b.example"], ["ndots:2"])
    assert "10.1.1.1" not in text
    assert "nameserver 1.1.1.1" in text
    assert "search b.example" in text and "options ndots:2" in text
