"""Encoders for the few rtnetlink messages of the start, connect and
disconnect paths: a message body (after its nlmsghdr) as the kernel's
structs lay it out. pyroute2's generic encoder costs about half a
millisecond per veth pair in this service; these are plain struct.pack.

Layouts from linux/rtnetlink.h and linux/if_link.h."""

from __future__ import annotations

import socket
import struct

# attribute types
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_LINKINFO, IFLA_GROUP, IFLA_NET_NS_FD = 18, 27, 28
IFLA_INFO_KIND, IFLA_INFO_DATA, VETH_INFO_PEER = 1, 2, 1
IFA_ADDRESS, IFA_LOCAL, IFA_BROADCAST, IFA_FLAGS = 1, 2, 4, 8
RTA_OIF, RTA_GATEWAY = 4, 5

_IFINFO = struct.Struct("=BBHiII")  # family, pad, type, index, flags, change
_IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct(
    "=BBBBBBBBI"
)  # family, dst_len, src_len, tos, table, proto, scope, type, flags
_RTA = struct.Struct("=HH")  # length, type


def attr(kind: int, payload: bytes) -> bytes:
    """One attribute, padded to 4 bytes."""
    length = _RTA.size + len(payload)
    return _RTA.pack(length, kind) + payload + b"\0" * (-length % 4)


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("=I", value))


def string(kind: int, value: str) -> bytes:
    return attr(kind, value.encode() + b"\0")


def mac(kind: int, value: str) -> bytes:
    return attr(kind, bytes.fromhex(value.replace(":", "")))


def ip(kind: int, value: str) -> bytes:
    family = socket.AF_INET6 if ":" in value else socket.AF_INET
    return attr(kind, socket.inet_pton(family, value))


def nest(kind: int, *attrs: bytes) -> bytes:
    return attr(kind, b"".join(attrs))


def ifinfo(*attrs: bytes, index: int = 0, flags: int = 0, change: int = 0) -> bytes:
    """struct ifinfomsg and its attributes."""
    return _IFINFO.pack(0, 0, 0, index, flags, change) + b"".join(attrs)


def ifaddr(family: int, prefix: int, index: int, *attrs: bytes, flags: int = 0) -> bytes:
    """struct ifaddrmsg (universe scope) and its attributes."""
    return _IFADDR.pack(family, prefix, flags, 0, index) + b"".join(attrs)


def rtmsg(family: int, table: int, proto: int, scope: int, kind: int, *attrs: bytes) -> bytes:
    """struct rtmsg of a route without a destination (a default route)."""
    return _RTMSG.pack(family, 0, 0, 0, table, proto, scope, kind, 0) + b"".join(attrs)
