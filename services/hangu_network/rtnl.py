"""A synchronous rtnetlink socket for the requests made inside a container's
namespace on every start, connect and disconnect. pyroute2's message
classes encode the requests; the socket is a plain one, because pyroute2's
own sockets drive an asyncio loop per request (~0.5 ms each, several times
the kernel's work) and take as long again to open.

A socket belongs to the namespace of the thread that opens it (netns.py
opens them inside a container's namespace)."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from typing import Any

from pyroute2.netlink import NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

RTM_NEWLINK, RTM_GETLINK = 16, 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFF_UP = 1
IFA_F_NODAD = 0x02
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
ENODEV = 19
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid


class Rtnl:
    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def _request(self, msg: Any, kind: int, flags: int = 0) -> list[bytes]:
        """Send one request; the replies before its acknowledgement. A
        negative acknowledgement raises NetlinkError, as pyroute2 does."""
        self._seq += 1
        seq = self._seq
        msg["header"]["type"] = kind
        msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
        msg["header"]["sequence_number"] = seq
        msg.encode()
        self._sock.send(msg.data)
        replies: list[bytes] = []
        while True:
            data = self._sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, mtype, _, mseq, _ = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    break
                if mseq == seq:
                    if mtype == NLMSG_ERROR:
                        (code,) = struct.unpack_from("=i", data, offset + _HEADER.size)
                        if code:
                            raise NetlinkError(-code, os.strerror(-code))
                        return replies
                    if mtype == NLMSG_DONE:
                        return replies
                    replies.append(data[offset : offset + length])
                offset += (length + 3) & ~3

    # -- links -----------------------------------------------------------
    def index(self, name: str) -> int | None:
        """The ifindex of a link by name; None if there is none."""
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name)]
        try:
            replies = self._request(msg, RTM_GETLINK)
        except NetlinkError as err:
            if err.code == ENODEV:
                return None
            raise
        # ifinfomsg after the header: family, pad, type (u8, u8, u16), index (i32)
        return int(struct.unpack_from("=i", replies[0], _HEADER.size + 4)[0]) if replies else None

    def set_up(self, index: int, up: bool = True) -> None:
        msg = ifinfmsg()
        msg["index"] = index
        msg["flags"] = IFF_UP if up else 0
        msg["change"] = IFF_UP
        self._request(msg, RTM_NEWLINK)

    def rename(self, index: int, name: str) -> None:
        """A new name for a link that is down."""
        msg = ifinfmsg()
        msg["index"] = index
        msg["attrs"] = [("IFLA_IFNAME", name)]
        self._request(msg, RTM_NEWLINK)

    # -- addresses and routes -------------------------------------------
    def add_address(
        self, index: int, address: ipaddress.IPv4Address | ipaddress.IPv6Address, prefix: int
    ) -> None:
        """An address on a link; IPv6 ones skip duplicate address detection
        (usable at once), IPv4 ones get their broadcast address, as Docker's."""
        msg = ifaddrmsg()
        msg["index"] = index
        msg["prefixlen"] = prefix
        if address.version == 4:
            net = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            msg["family"] = socket.AF_INET
            msg["attrs"] = [("IFA_LOCAL", str(address)), ("IFA_ADDRESS", str(address))]
            if prefix < 31:
                msg["attrs"].append(("IFA_BROADCAST", str(net.broadcast_address)))
        else:
            msg["family"] = socket.AF_INET6
            msg["flags"] = IFA_F_NODAD
            msg["attrs"] = [("IFA_ADDRESS", str(address)), ("IFA_FLAGS", IFA_F_NODAD)]
        self._request(msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL)

    def default_route(self, index: int, gateway: str, replace: bool = False) -> None:
        """The default route of the gateway's family via that link."""
        family = socket.AF_INET6 if ":" in gateway else socket.AF_INET
        msg = rtmsg()
        msg["family"] = family
        msg["table"] = RT_TABLE_MAIN
        msg["proto"] = RTPROT_BOOT
        msg["scope"] = RT_SCOPE_UNIVERSE
        msg["type"] = RTN_UNICAST
        msg["attrs"] = [("RTA_GATEWAY", gateway), ("RTA_OIF", index)]
        flags = NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
        self._request(msg, RTM_NEWROUTE, flags)
