"""A synchronous rtnetlink socket for the requests made on every start,
connect and disconnect: the veth pair on the host, the set-up inside a
container's namespace. The requests are encoded by nlmsg.py and the
socket is a plain one, because pyroute2's own sockets drive an asyncio loop
per request (~0.5 ms each, more for a veth pair than the kernel's work) and
take as long again to open, and its encoder costs as much again.

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

from pyroute2.netlink.exceptions import NetlinkError

from . import nlmsg
from .nlmsg import IFLA_LINK

NLM_F_REQUEST, NLM_F_ACK, NLM_F_ECHO = 0x1, 0x4, 0x8
NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE = 0x100, 0x200, 0x400
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

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# One request: its body (nlmsg.py), its type and its extra flags.
Request = tuple[bytes, int, int]


class Rtnl:
    def __init__(self) -> None:
        self._sock = socket.socket(
            socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, socket.NETLINK_ROUTE
        )
        self._sock.bind((0, 0))
        self._seq = 0

    def close(self) -> None:
        self._sock.close()

    def _request(self, body: bytes, kind: int, flags: int = 0) -> list[bytes]:
        """Send one request; the replies before its acknowledgement."""
        return self._batch([(body, kind, flags)])[0]

    def _batch(self, requests: list[Request]) -> list[list[bytes]]:
        """Send the requests in one datagram; each one's replies before its
        acknowledgement. The kernel carries on after a failed one: every
        acknowledgement is read, then the first negative one raises
        NetlinkError, as pyroute2 does."""
        seqs: dict[int, int] = {}  # sequence number -> position
        payload = bytearray()
        for position, (body, kind, flags) in enumerate(requests):
            self._seq += 1
            seqs[self._seq] = position
            length = _HEADER.size + len(body)
            payload += _HEADER.pack(length, kind, NLM_F_REQUEST | NLM_F_ACK | flags, self._seq, 0)
            payload += body + b"\0" * (-length % 4)
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
        try:
            replies = self._request(
                nlmsg.ifinfo(nlmsg.string(nlmsg.IFLA_IFNAME, name)), RTM_GETLINK
            )
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
        peer_link = nlmsg.ifinfo(
            nlmsg.string(nlmsg.IFLA_IFNAME, peer),
            nlmsg.mac(nlmsg.IFLA_ADDRESS, peer_mac),
            nlmsg.u32(nlmsg.IFLA_MTU, mtu),
            nlmsg.u32(nlmsg.IFLA_NET_NS_FD, peer_netns_fd),
        )
        info = nlmsg.nest(
            nlmsg.IFLA_LINKINFO,
            nlmsg.string(nlmsg.IFLA_INFO_KIND, "veth"),
            nlmsg.nest(nlmsg.IFLA_INFO_DATA, nlmsg.attr(nlmsg.VETH_INFO_PEER, peer_link)),
        )
        body = nlmsg.ifinfo(
            nlmsg.string(nlmsg.IFLA_IFNAME, name),
            nlmsg.u32(nlmsg.IFLA_MTU, mtu),
            nlmsg.u32(nlmsg.IFLA_MASTER, master),
            info,
            flags=IFF_UP,
            change=IFF_UP,
        )
        replies = self._request(body, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ECHO)
        for reply in replies:
            link = _u32_attr(reply, _IFINFO_END, IFLA_LINK)
            if link:
                return link
        return None

    def delete(self, name: str) -> None:
        """Delete a link by name (with its veth peer)."""
        self._request(nlmsg.ifinfo(nlmsg.string(nlmsg.IFLA_IFNAME, name)), RTM_DELLINK)

    def set_group(self, name: str, group: int) -> None:
        """Put a link (by name) in a link group."""
        body = nlmsg.ifinfo(
            nlmsg.string(nlmsg.IFLA_IFNAME, name), nlmsg.u32(nlmsg.IFLA_GROUP, group)
        )
        self._request(body, RTM_NEWLINK)

    def delete_group(self, group: int) -> None:
        """Delete every link of a group, in one batch of the kernel's."""
        self._request(nlmsg.ifinfo(nlmsg.u32(nlmsg.IFLA_GROUP, group)), RTM_DELLINK)

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
        rename = nlmsg.ifinfo(nlmsg.string(nlmsg.IFLA_IFNAME, name), index=index)
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
    return nlmsg.ifinfo(index=index, flags=IFF_UP if up else 0, change=IFF_UP), RTM_NEWLINK, 0


def _address(index: int, address: Address, prefix: int) -> Request:
    """An address on a link; IPv6 ones skip duplicate address detection
    (usable at once), IPv4 ones get their broadcast address, as Docker's."""
    text = str(address)
    if address.version == 4:
        attrs = [nlmsg.ip(nlmsg.IFA_LOCAL, text), nlmsg.ip(nlmsg.IFA_ADDRESS, text)]
        if prefix < 31:
            net = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            attrs.append(nlmsg.ip(nlmsg.IFA_BROADCAST, str(net.broadcast_address)))
        body = nlmsg.ifaddr(socket.AF_INET, prefix, index, *attrs)
    else:
        body = nlmsg.ifaddr(
            socket.AF_INET6,
            prefix,
            index,
            nlmsg.ip(nlmsg.IFA_ADDRESS, text),
            nlmsg.u32(nlmsg.IFA_FLAGS, IFA_F_NODAD),
            flags=IFA_F_NODAD,
        )
    return body, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL


def _default_route(index: int, gateway: str, replace: bool) -> Request:
    """The default route of the gateway's family via that link."""
    body = nlmsg.rtmsg(
        socket.AF_INET6 if ":" in gateway else socket.AF_INET,
        RT_TABLE_MAIN,
        RTPROT_BOOT,
        RT_SCOPE_UNIVERSE,
        RTN_UNICAST,
        nlmsg.ip(nlmsg.RTA_GATEWAY, gateway),
        nlmsg.u32(nlmsg.RTA_OIF, index),
    )
    return body, RTM_NEWROUTE, NLM_F_CREATE | (NLM_F_REPLACE if replace else NLM_F_EXCL)
