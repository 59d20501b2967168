"""Host-port reservations: one socket bound on each published host address
and port for as long as it is published, as dockerd holds them.

The socket is what makes "in use" mean what users expect: a port a host
process listens on cannot be published (bind fails: EADDRINUSE), and a
published port cannot be taken by a host process afterwards. IPv4 traffic
to the port is DNATed before it reaches the socket; a filter that drops
every packet makes sure the socket itself never accepts one (dockerd's
trick, see portallocator/osallocator_linux.go). IPv6 sockets are left
unfiltered: they are the in-service proxy's listeners.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import threading

from .nft import PortRule

SO_ATTACH_FILTER = 26
IPPROTO_SCTP = 132
# hangu's resolver listens on each gateway's port 53 with SO_REUSEADDR. A
# held UDP socket there would take its queries (the last bound one gets the
# datagrams) and a TCP one cannot be bound beside its listener: IPv4 port 53
# is checked (a host DNS server still fails the publish) but not held.
_RESOLVER_PORT = 53

Key = tuple[str, str, int]  # host ip, protocol, port


class PortUnavailable(Exception):
    """A host port that cannot be published; the text is dockerd's."""


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


_DROP_ALL = (_SockFilter * 1)(_SockFilter(0x06, 0, 0, 0))  # BPF_RET|BPF_K 0: drop


def _drop_everything(sock: socket.socket) -> None:
    prog = _SockFprog(1, ctypes.cast(_DROP_ALL, ctypes.POINTER(_SockFilter)))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(prog))


def _is_v6(ip: str) -> bool:
    return ":" in ip


def _unspecified(ip: str) -> bool:
    return ip in ("0.0.0.0", "::")


def open_reservation(ip: str, proto: str, port: int) -> socket.socket:
    """A socket bound on ip:port (listening for TCP and SCTP). OSError as the
    kernel says when that is not possible."""
    family = socket.AF_INET6 if _is_v6(ip) else socket.AF_INET
    kind, number = {
        "tcp": (socket.SOCK_STREAM, socket.IPPROTO_TCP),
        "udp": (socket.SOCK_DGRAM, socket.IPPROTO_UDP),
        "sctp": (socket.SOCK_STREAM, IPPROTO_SCTP),
    }[proto]
    sock = socket.socket(family, kind, number)
    try:
        # SO_REUSEADDR: a port left in TIME_WAIT by the container's last
        # connections can be published again at once (dockerd sets it too).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        else:
            _drop_everything(sock)  # before bind: not one datagram queued
        sock.bind((ip, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class HostPorts:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[Key, socket.socket | None] = {}

    def clash(self, ip: str, proto: str, port: int) -> str | None:
        """The address hangu already publishes that port on, if any that
        overlaps ip (same family; equal, or one of them unspecified)."""
        with self._lock:
            for hip, hproto, hport in self._held:
                if (
                    hproto == proto
                    and hport == port
                    and _is_v6(hip) == _is_v6(ip)
                    and (hip == ip or _unspecified(hip) or _unspecified(ip))
                ):
                    return hip
        return None

    def reserve(self, ip: str, proto: str, port: int) -> None:
        key = (ip, proto, port)
        resolver_port = port == _RESOLVER_PORT and not _is_v6(ip)
        try:
            sock: socket.socket | None = open_reservation(ip, proto, port)
        except OSError as err:
            if not (resolver_port and proto == "tcp" and err.errno == errno.EADDRINUSE):
                raise
            sock = None
        if resolver_port and sock is not None:
            sock.close()
            sock = None
        with self._lock:
            old = self._held.pop(key, None)
            self._held[key] = sock
        if old is not None:
            old.close()

    def socket(self, rule: PortRule) -> socket.socket | None:
        with self._lock:
            return self._held.get((rule.host_ip, rule.protocol, rule.host_port))

    def release(self, rule: PortRule) -> None:
        self.release_key(rule.host_ip, rule.protocol, rule.host_port)

    def release_key(self, ip: str, proto: str, port: int) -> None:
        with self._lock:
            sock = self._held.pop((ip, proto, port), None)
        if sock is not None:
            sock.close()

    def held(self) -> list[Key]:
        with self._lock:
            return list(self._held)

    def close(self) -> None:
        with self._lock:
            socks, self._held = list(self._held.values()), {}
        for sock in socks:
            if sock is not None:
                sock.close()
