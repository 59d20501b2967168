"""A synchronous rtnetlink socket for the requests made on every start,
connect and disconnect: the veth pair on the host, the set-up inside a
container's namespace. pyroute2's message classes encode the requests; the
socket is a plain one, because pyroute2's own sockets drive an asyncio loop
per request (~0.5 ms each, more for a veth pair than the kernel's work) and
take as long again to open.

The steps of one interface go to the kernel in one datagram (netlink
takes several requests at once and acknowledges each): one round trip
instead of one per step.

A socket belongs to the namespace of the thread that opens it (netns.py
opens them inside a container's namespace)."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Sequence
from typing import Any

from pyroute2.netlink import (
    NLM_F_ACK,
    NLM_F_CREATE,
    NLM_F_ECHO,
    NLM_F_EXCL,
    NLM_F_REPLACE,
    NLM_F_REQUEST,
)
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWADDR = 20
RTM_NEWROUTE = 24
NLMSG_ERROR, NLMSG_DONE = 2, 3
IFF_UP = 1
IFA_F_NODAD = 0x02
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1
ENODEV = 19
_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
_IFINFO_INDEX = _HEADER.size + 4  # ifinfomsg: family, pad, type (u8, u8, u16), index (i32)
_IFINFO_END = _HEADER.size + 16  # ... flags, change (u32, u32); its attributes follow
_ATTR = struct.Struct("=HH")  # rtattr: length, type
IFLA_LINK = 5

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# One request: a pyroute2 message, its type and its extra flags.
Request = tuple[Any, int, int]


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
        """Send one request; the replies before its acknowledgement."""
        return self._batch([(msg, kind, flags)])[0]

    def _batch(self, requests: list[Request]) -> list[list[bytes]]:
        """Send the requests in one datagram; each one's replies before its
        acknowledgement. The kernel carries on after a failed one: every
        acknowledgement is read, then the first negative one raises
        NetlinkError, as pyroute2 does."""
        seqs: dict[int, int] = {}  # sequence number -> position
        payload = bytearray()
        for position, (msg, kind, flags) in enumerate(requests):
            self._seq += 1
            seqs[self._seq] = position
            msg["header"]["type"] = kind
            msg["header"]["flags"] = NLM_F_REQUEST | NLM_F_ACK | flags
            msg["header"]["sequence_number"] = self._seq
            msg.encode()
            payload += msg.data
        self._sock.send(payload)
        replies: list[list[bytes]] = [[] for _ in requests]
        errors: list[int] = []
        pending = set(seqs)
        while pending:
            data = self._sock.recv(65536)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, mtype, _, mseq, _ = _HEADER.unpack_from(data, offset)
                if length < _HEADER.size:
                    break
                if mseq in pending:
                    if mtype in (NLMSG_ERROR, NLMSG_DONE):
                        pending.discard(mseq)
                        if mtype == NLMSG_ERROR:
                            (code,) = struct.unpack_from("=i", data, offset + _HEADER.size)
                            if code:
                                errors.append(-code)
                    else:
                        replies[seqs[mseq]].append(data[offset : offset + length])
                offset += (length + 3) & ~3
        if errors:
            raise NetlinkError(errors[0], os.strerror(errors[0]))
        return replies

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
        return int(struct.unpack_from("=i", replies[0], _IFINFO_INDEX)[0]) if replies else None

    def add_veth(
        self, name: str, master: int, mtu: int, peer: str, peer_mac: str, peer_netns_fd: int
    ) -> int | None:
        """A veth pair: this end enslaved to `master` and up as it is born,
        the peer born inside the namespace of `peer_netns_fd` with its name
        and MAC (down: the namespace side brings it up once addressed).
        Returns the peer's ifindex in its namespace, from the kernel's echo
        of the new link (Linux 6.1 and later; None before)."""
        msg = ifinfmsg()
        msg["flags"] = IFF_UP
        msg["change"] = IFF_UP
        peer_attrs = [
            ("IFLA_IFNAME", peer),
            ("IFLA_ADDRESS", peer_mac),
            ("IFLA_MTU", mtu),
            ("IFLA_NET_NS_FD", peer_netns_fd),
        ]
        info = [
            ("IFLA_INFO_KIND", "veth"),
            ("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": peer_attrs})]}),
        ]
        msg["attrs"] = [
            ("IFLA_IFNAME", name),
            ("IFLA_MTU", mtu),
            ("IFLA_MASTER", master),
            ("IFLA_LINKINFO", {"attrs": info}),
        ]
        replies = self._request(msg, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO)
        for reply in replies:
            link = _u32_attr(reply, _IFINFO_END, IFLA_LINK)
            if link:
                return link
        return None

    def delete(self, name: str) -> None:
        """Delete a link by name (with its veth peer)."""
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name)]
        self._request(msg, RTM_DELLINK)

    def set_group(self, name: str, group: int) -> None:
        """Put a link (by name) in a link group."""
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_IFNAME", name), ("IFLA_GROUP", group)]
        self._request(msg, RTM_NEWLINK)

    def delete_group(self, group: int) -> None:
        """Delete every link of a group, in one batch of the kernel's."""
        msg = ifinfmsg()
        msg["attrs"] = [("IFLA_GROUP", group)]
        self._request(msg, RTM_DELLINK)

    def set_up(self, index: int, up: bool = True) -> None:
        self._request(*_up(index, up))

    def configure(
        self, index: int, addresses: Sequence[tuple[Address, int]], gateways: Sequence[str]
    ) -> None:
        """An interface's addresses, up, and the default route through each
        gateway (replacing one that another interface held): one round trip."""
        self._batch(
            [
                *(_address(index, address, prefix) for address, prefix in addresses),
                _up(index, True),
                *(_default_route(index, gateway, replace=True) for gateway in gateways),
            ]
        )

    def retire(self, index: int, name: str) -> None:
        """Down, then a new name (a link must be down to be renamed): one
        round trip."""
        rename = ifinfmsg()
        rename["index"] = index
        rename["attrs"] = [("IFLA_IFNAME", name)]
        self._batch([_up(index, False), (rename, RTM_NEWLINK, 0)])

    # -- routes ----------------------------------------------------------
    def default_route(self, index: int, gateway: str, replace: bool = False) -> None:
        self._request(*_default_route(index, gateway, replace))


def _u32_attr(message: bytes, offset: int, kind: int) -> int | None:
    """A u32 attribute of a message, read from its attributes at `offset`
    without decoding the rest (pyroute2's decoder takes a millisecond for
    a link with its statistics)."""
    while offset + _ATTR.size <= len(message):
        length, found = _ATTR.unpack_from(message, offset)
        if length < _ATTR.size:
            return None
        if found & 0x3FFF == kind and length >= _ATTR.size + 4:
            return int(struct.unpack_from("=I", message, offset + _ATTR.size)[0])
        offset += (length + 3) & ~3
    return None


def _up(index: int, up: bool) -> Request:
    msg = ifinfmsg()
    msg["index"] = index
    msg["flags"] = IFF_UP if up else 0
    msg["change"] = IFF_UP
    return msg, RTM_NEWLINK, 0


def _address(index: int, address: Address, prefix: int) -> Request:
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
    return msg, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL


def _default_route(index: int, gateway: str, replace: bool) -> Request:
    """The default route of the gateway's family via that link."""
    msg = rtmsg()
    msg["family"] = socket.AF_INET6 if ":" in gateway else socket.AF_INET
    msg["table"] = RT_TABLE_MAIN
    msg["proto"] = RTPROT_BOOT
    msg["scope"] = RT_SCOPE_UNIVERSE
    msg["type"] = RTN_UNICAST
    msg["attrs"] = [("RTA_GATEWAY", gateway), ("RTA_OIF", index)]
    return msg, RTM_NEWROUTE, NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
