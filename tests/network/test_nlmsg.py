"""nlmsg.py's hand-made rtnetlink bodies read back by pyroute2's decoder
(the kernel's layouts as pyroute2 knows them): the veth pair, an address
of each family and a default route."""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from hangu_network import nlmsg, rtnl


def decoded(cls: Any, request: rtnl.Request) -> Any:
    body, kind, _ = request
    header = struct.pack("=IHHII", 16 + len(body), kind, 0, 1, 0)
    msg = cls(header + body)
    msg.decode()
    return msg


def test_veth_pair_request() -> None:
    peer = nlmsg.ifinfo(
        nlmsg.string(nlmsg.IFLA_IFNAME, "eth3"),
        nlmsg.mac(nlmsg.IFLA_ADDRESS, "02:42:0a:00:00:07"),
        nlmsg.u32(nlmsg.IFLA_MTU, 1450),
        nlmsg.u32(nlmsg.IFLA_NET_NS_FD, 9),
    )
    body = nlmsg.ifinfo(
        nlmsg.string(nlmsg.IFLA_IFNAME, "vethabc1234"),
        nlmsg.u32(nlmsg.IFLA_MASTER, 42),
        nlmsg.nest(
            nlmsg.IFLA_LINKINFO,
            nlmsg.string(nlmsg.IFLA_INFO_KIND, "veth"),
            nlmsg.nest(nlmsg.IFLA_INFO_DATA, nlmsg.attr(nlmsg.VETH_INFO_PEER, peer)),
        ),
        flags=1,
        change=1,
    )
    msg = decoded(ifinfmsg, (body, rtnl.RTM_NEWLINK, 0))
    assert msg["flags"] == 1 and msg["change"] == 1
    assert msg.get_attr("IFLA_IFNAME") == "vethabc1234"
    assert msg.get_attr("IFLA_MASTER") == 42
    info = msg.get_attr("IFLA_LINKINFO")
    assert info.get_attr("IFLA_INFO_KIND") == "veth"
    inner = info.get_attr("IFLA_INFO_DATA").get_attr("VETH_INFO_PEER")
    assert inner.get_attr("IFLA_IFNAME") == "eth3"
    assert inner.get_attr("IFLA_ADDRESS") == "02:42:0a:00:00:07"
    assert inner.get_attr("IFLA_MTU") == 1450 and inner.get_attr("IFLA_NET_NS_FD") == 9


def test_addresses_and_default_route() -> None:
    v4 = decoded(ifaddrmsg, rtnl._address(7, ipaddress.ip_address("10.9.8.7"), 24))
    assert (v4["family"], v4["prefixlen"], v4["index"]) == (socket.AF_INET, 24, 7)
    assert v4.get_attr("IFA_LOCAL") == "10.9.8.7" and v4.get_attr("IFA_ADDRESS") == "10.9.8.7"
    assert v4.get_attr("IFA_BROADCAST") == "10.9.8.255"
    v6 = decoded(ifaddrmsg, rtnl._address(7, ipaddress.ip_address("fd00:1::5"), 64))
    assert v6["family"] == socket.AF_INET6 and v6.get_attr("IFA_ADDRESS") == "fd00:1::5"
    assert v6.get_attr("IFA_FLAGS") == rtnl.IFA_F_NODAD
    body, kind, flags = rtnl._default_route(7, "10.9.8.1", replace=True)
    assert flags & rtnl.NLM_F_REPLACE
    route = decoded(rtmsg, (body, kind, flags))
    assert route["family"] == socket.AF_INET and route["dst_len"] == 0
    assert route["table"] == rtnl.RT_TABLE_MAIN and route.get_attr("RTA_GATEWAY") == "10.9.8.1"
    assert route.get_attr("RTA_OIF") == 7
