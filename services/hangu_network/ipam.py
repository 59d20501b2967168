"""IP address management: pure logic, no kernel and no database.

Subnet pools are written as comma-separated entries. An entry is either a
CIDR, which is one candidate subnet, or `CIDR:PREFIXLEN`, which is split into
subnets of that size (as Docker's default-address-pools `base`/`size`), e.g.
`10.201.0.0/16:24` gives 10.201.0.0/24, 10.201.1.0/24, ..."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network

from hangu_runtime.errors import Conflict, InvalidArgument, Unavailable


def pool_entries(pool: str) -> Iterator[tuple[IPv4Network, int]]:
    """(base, size) of each entry, as `docker info` shows DefaultAddressPools."""
    for entry in pool.split(","):
        entry = entry.strip()
        if entry:
            cidr, _, size = entry.partition(":")
            net = IPv4Network(cidr, strict=False)
            yield net, int(size) if size else net.prefixlen


def pool_subnets(pool: str) -> Iterator[IPv4Network]:
    """Every candidate subnet of a pool, in order."""
    for net, size in pool_entries(pool):
        yield from net.subnets(new_prefix=size)


def pick_subnet(pool: str, avoid: Iterable[IPv4Network]) -> IPv4Network:
    """First pool subnet that overlaps none of `avoid` (host routes, host
    addresses, subnets of other networks)."""
    taken = [n for n in avoid if n.prefixlen > 0]  # a default route overlaps everything
    for candidate in pool_subnets(pool):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    # current dockerd's wording and status (a 400, not a server error)
    raise InvalidArgument("all predefined address pools have been fully subnetted")


def default_gateway(subnet: IPv4Network) -> IPv4Address:
    return subnet.network_address + 1


def allocate(
    subnet: IPv4Network,
    used: set[IPv4Address],
    gateway: IPv4Address | None,
    requested: str = "",
    ip_range: str = "",
) -> IPv4Address:
    """The requested address if it is free and in the subnet, else the lowest
    free host address (inside ip_range when one is set)."""
    reserved = {subnet.network_address, subnet.broadcast_address}
    if gateway is not None:
        reserved.add(gateway)
    if requested:
        try:
            addr = IPv4Address(requested)
        except ValueError as err:
            raise InvalidArgument(f"invalid IPv4 address: {requested}") from err
        if addr not in subnet:
            raise InvalidArgument(
                f"Invalid address {addr}: It does not belong to any of this network's subnets"
            )
        if addr in used or addr in reserved:
            raise Conflict(f"Address already in use: {addr}")
        return addr
    space = IPv4Network(ip_range, strict=False) if ip_range else subnet
    for addr in space.hosts() if space.prefixlen < 31 else space:
        if addr in subnet and addr not in used and addr not in reserved:
            return addr
    # dockerd: ErrNoAvailableIPs, a 503
    raise Unavailable("no available addresses on this pool")


def mac_for(addr: IPv4Address) -> str:
    """Docker's MAC for a bridge endpoint: 02:42 then the four IPv4 octets."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed)


def parse_network(value: str) -> IPv4Network | None:
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    return net if isinstance(net, IPv4Network) else None
