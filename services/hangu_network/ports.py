"""Published ports: which host addresses a request binds, which host port it
gets, and the Docker-worded errors when it cannot have one.

A published port is three things, made and undone together by `Publisher`:
- a reservation: a socket bound on the host address and port (hostports.py),
  so no host process can take the port while it is published, and a port a
  host process already holds fails the start as it does with dockerd;
- the kernel forwarding: elements of the DNAT maps in hangu's nftables table
  (nft.py) — IPv4 always, IPv6 when the container has an IPv6 address;
- for IPv6 host addresses, the reservation socket is also a listener of the
  one in-service proxy (proxy.py): the kernel cannot forward connections
  to `::1` off the loopback device (IPv6 has no route_localnet), and a
  container without an IPv6 address has nothing to DNAT to.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hangu_runtime import logging as hlog
from hangu_runtime.errors import HanguError, Internal

from .hostports import HostPorts, PortUnavailable
from .nft import Nft, PortRule
from .proxy import Proxy

log = hlog.get_logger("hangu.network.ports")

PROTOCOLS = ("tcp", "udp", "sctp")
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_IF_INET6 = Path("/proc/net/if_inet6")


@dataclass(frozen=True)
class PortRequest:
    protocol: str
    container_port: int
    host_ip: str = ""  # "": every address, IPv4 and IPv6 (as current Docker)
    host_port: int = 0  # 0: one from the ephemeral range
    host_port_end: int = 0  # > host_port: one free port of the range


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ip_local_port_range, which dockerd picks from too."""
    try:
        low, high = (int(v) for v in _RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def host_addresses(host_ip: str) -> list[str]:
    """The addresses a binding covers: an empty HostIp is 0.0.0.0 and, on a
    host with IPv6, `::` too (two lines in `docker port`, as Docker shows)."""
    if not host_ip:
        return ["0.0.0.0", "::"] if _IF_INET6.exists() else ["0.0.0.0"]
    try:
        return [str(ipaddress.ip_address(host_ip.strip("[]")))]
    except ValueError:
        raise HanguError(f"invalid host IP address: {host_ip!r}") from None


def _is_v6(ip: str) -> bool:
    return ":" in ip


def _addr_port(ip: str, port: int) -> str:
    # Go's netip.AddrPort formatting, which dockerd's messages use.
    return f"[{ip}]:{port}" if _is_v6(ip) else f"{ip}:{port}"


def _bind_error(ip: str, port: int, proto: str, err: OSError) -> str:
    text = os.strerror(err.errno).lower() if err.errno else str(err)
    if err.errno in (errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT, errno.EAFNOSUPPORT):
        return f"failed to create socket for {_addr_port(ip, port)}/{proto}: {text}"
    return f"failed to bind host port {_addr_port(ip, port)}/{proto}: {text}"


class Publisher:
    """Host ports in use by hangu live here (in memory, restored from the
    sandboxes' records at start-up); one lock orders every allocation."""

    def __init__(self, nft: Nft) -> None:
        self.nft = nft
        self.host_ports = HostPorts()
        self.proxy = Proxy()
        self._lock = threading.Lock()
        self._next: dict[str, int] = {}  # proto -> where the ephemeral search resumes

    # -- publish / unpublish --------------------------------------------------
    def publish(
        self,
        requests: Sequence[PortRequest],
        container_ip: str,
        container_ip6: str,
        endpoint: tuple[str, str],
    ) -> list[PortRule]:
        """Every request reserved, forwarded and (IPv6) proxied, or none.
        `endpoint` is (name, id) for dockerd's wording of a failure."""
        rules: list[PortRule] = []
        try:
            with self._lock:
                for req in requests:
                    rules += self._allocate(req, container_ip, container_ip6)
            self.nft.add_ports(r for r in rules if r.kernel_path)
            for rule in rules:
                if _is_v6(rule.host_ip):
                    self.proxy.serve(rule, self.host_ports.socket(rule))
        except BaseException as err:
            self.unpublish(rules)
            if isinstance(err, PortUnavailable):
                name, ep_id = endpoint
                raise Internal(
                    "failed to set up container networking: driver failed programming "
                    f"external connectivity on endpoint {name} ({ep_id}): {err}"
                ) from None
            raise
        return rules

    def unpublish(self, rules: Iterable[PortRule]) -> None:
        rules = list(rules)
        self.nft.remove_ports(r for r in rules if r.kernel_path)
        for rule in rules:
            self.proxy.stop(rule)
            self.host_ports.release(rule)

    def restore(self, rules: Iterable[PortRule]) -> None:
        """After a restart of the service: the map elements survived in the
        table; the reservations and proxy listeners are made again."""
        rules = list(rules)
        self.nft.add_ports(r for r in rules if r.kernel_path)
        for rule in rules:
            try:
                self.host_ports.reserve(rule.host_ip, rule.protocol, rule.host_port)
            except OSError as err:
                # Taken while hangu was down: the DNAT still works for IPv4;
                # an IPv6 listener cannot be had.
                log.warning("published_port_not_reserved", error=str(err))
                continue
            if _is_v6(rule.host_ip):
                self.proxy.serve(rule, self.host_ports.socket(rule))

    def close(self) -> None:
        self.proxy.close()
        self.host_ports.close()

    # -- allocation -----------------------------------------------------------
    def _allocate(self, req: PortRequest, ip4: str, ip6: str) -> list[PortRule]:
        proto = (req.protocol or "tcp").lower()
        if proto not in PROTOCOLS:
            raise HanguError(f"unknown protocol {proto!r} for a published port")
        addrs = host_addresses(req.host_ip)
        start, end = req.host_port, max(req.host_port_end, req.host_port)
        if start == 0:
            port = self._ephemeral(addrs, proto)
        elif start == end:
            self._check_allocated(addrs, proto, start)
            self._bind_all(addrs, proto, start)
            port = start
        else:
            port = self._from_range(addrs, proto, range(start, end + 1))
        return [
            PortRule(
                host_ip=ip,
                protocol=proto,
                host_port=port,
                container_ip=ip4,
                container_port=req.container_port,
                container_ip6=ip6 if _is_v6(ip) else "",
            )
            for ip in addrs
        ]

    def _check_allocated(self, addrs: list[str], proto: str, port: int) -> None:
        for ip in addrs:
            holder = self.host_ports.clash(ip, proto, port)
            if holder is not None:
                raise PortUnavailable(f"Bind for {holder}:{port} failed: port is already allocated")

    def _bind_all(self, addrs: list[str], proto: str, port: int) -> None:
        done: list[str] = []
        try:
            for ip in addrs:
                try:
                    self.host_ports.reserve(ip, proto, port)
                except OSError as err:
                    raise PortUnavailable(_bind_error(ip, port, proto, err)) from None
                done.append(ip)
        except BaseException:
            for ip in done:
                self.host_ports.release_key(ip, proto, port)
            raise

    def _from_range(self, addrs: list[str], proto: str, ports: Iterable[int]) -> int:
        last: PortUnavailable | None = None
        for port in ports:
            if any(self.host_ports.clash(ip, proto, port) for ip in addrs):
                continue
            try:
                self._bind_all(addrs, proto, port)
                return port
            except PortUnavailable as err:
                last = err
                if "failed to create socket" in str(err):
                    raise
        raise last or PortUnavailable("all ports are allocated")

    def _ephemeral(self, addrs: list[str], proto: str) -> int:
        # As dockerd: the search resumes after the port picked last, so a
        # port just given up is not handed out again at once.
        low, high = ephemeral_range()
        first = self._next.get(proto, low)
        if not low <= first <= high:
            first = low
        order = [*range(first, high + 1), *range(low, first)]
        port = self._from_range(addrs, proto, order)
        self._next[proto] = port + 1
        return port
