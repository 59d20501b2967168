"""Published ports: validation and host-port picking. The DNAT itself is a
map element in hangu's nftables table (see nft.py)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from hangu_runtime.errors import HanguError, InvalidArgument

from .nft import PortRule

# dockerd's range for ports it picks itself.
DYNAMIC_RANGE = range(49153, 65536)


@dataclass(frozen=True)
class PortRequest:
    protocol: str
    container_port: int
    host_ip: str = ""
    host_port: int = 0


def _bindable(host_ip: str, protocol: str, port: int) -> bool:
    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        # SO_REUSEADDR: hangu's own resolver (bound on gateways with it) does
        # not count as a user of port 53; any other listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip or "0.0.0.0", port))
        except OSError:
            return False
    return True


def _clash(rule: tuple[str, str, int], taken: set[tuple[str, str, int]]) -> bool:
    ip, proto, port = rule
    for tip, tproto, tport in taken:
        if (
            tproto == proto
            and tport == port
            and (ip in ("", "0.0.0.0") or tip in ("", "0.0.0.0") or tip == ip)
        ):
            return True
    return False


def resolve(
    requests: Iterable[PortRequest], container_ip: str, taken: set[tuple[str, str, int]]
) -> list[PortRule]:
    """PortRules with host ports filled in. `taken` is (host_ip, proto, port)
    of every port already published by hangu; it is updated."""
    rules = []
    for req in requests:
        proto = (req.protocol or "tcp").lower()
        if proto not in ("tcp", "udp"):
            raise InvalidArgument(f"unsupported protocol {proto} for a published port")
        if not 0 < req.container_port < 65536:
            raise InvalidArgument(f"invalid container port {req.container_port}")
        host_ip = req.host_ip or "0.0.0.0"
        try:
            if ipaddress.ip_address(host_ip).version != 4:
                continue  # IPv6 publishing comes later; IPv4 still works
        except ValueError as err:
            raise InvalidArgument(f"invalid host IP {host_ip!r}") from err
        port = req.host_port
        if port == 0:
            port = next(
                (
                    p
                    for p in DYNAMIC_RANGE
                    if not _clash((host_ip, proto, p), taken) and _bindable(host_ip, proto, p)
                ),
                0,
            )
            if not port:
                raise HanguError("no free host port to publish on")
        elif _clash((host_ip, proto, port), taken):
            raise HanguError(f"Bind for {host_ip}:{port} failed: port is already allocated")
        elif not _bindable(host_ip, proto, port):
            # A host process listens there: the DNAT would silently hide it.
            raise HanguError(
                f"failed to bind port {host_ip}:{port}/{proto}: listen {proto}4 "
                f"{host_ip}:{port}: bind: address already in use"
            )
        taken.add((host_ip, proto, port))
        rules.append(
            PortRule(
                host_ip=host_ip,
                protocol=proto,
                host_port=port,
                container_ip=container_ip,
                container_port=req.container_port,
            )
        )
    return rules
