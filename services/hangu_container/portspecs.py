"""Docker's PortBindings / PublishAllPorts / ExposedPorts: validated at
create (dockerd's `validatePortBindings`, a 400) and turned into the port
requests of a sandbox at start.

The docker CLI expands `-p 21210-21212:80-82` into one key per container
port; `-p 21210-21212:80` stays one key whose HostPort is the range, of
which the network service picks one free port, as dockerd does."""

from __future__ import annotations

import ipaddress

from hangu_runtime.errors import InvalidArgument

from .model import ContainerConfig, HostConfig, PortBinding

PROTOCOLS = ("tcp", "udp", "sctp")

# protocol, container port, host ip, first host port, last host port (0: single)
PortTuple = tuple[str, int, str, int, int]


def _number(text: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    return value if value <= 65535 else None


def split_key(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    port = _number(number)
    if port is None or port == 0:
        raise InvalidArgument(f'invalid port specification: "{number}"')
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}")
    return port, proto


def host_range(text: str) -> tuple[int, int]:
    """HostPort: "" or "0" (any), "8080", or "8080-8090"."""
    if not text:
        return 0, 0
    first, dash, last = text.partition("-")
    start = _number(first)
    end = _number(last) if dash else start
    if start is None or end is None or end < start or (dash and start == 0):
        raise InvalidArgument(f'invalid port specification: "{text}"')
    return start, end


def validate(hc: HostConfig) -> None:
    for key, bindings in hc.port_bindings.items():
        split_key(key)
        for b in bindings.bindings:
            host_range(b.host_port)
            if b.host_ip:
                try:
                    ipaddress.ip_address(b.host_ip.strip("[]"))
                except ValueError:
                    raise InvalidArgument(f"invalid IP address: {b.host_ip}") from None


def requests(cfg: ContainerConfig, hc: HostConfig) -> list[PortTuple]:
    out: list[PortTuple] = []
    for key, bindings in hc.port_bindings.items():
        port, proto = split_key(key)
        for b in bindings.bindings or [PortBinding()]:
            start, end = host_range(b.host_port)
            out.append((proto, port, b.host_ip.strip("[]"), start, end if end != start else 0))
    if hc.publish_all_ports:
        for key in cfg.exposed_ports:
            if key not in hc.port_bindings:
                port, proto = split_key(key)
                out.append((proto, port, "", 0, 0))
    return out
