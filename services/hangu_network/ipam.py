"""IP address management: pure logic, no kernel and no database.

Subnet pools are written as comma-separated entries. An entry is either a
CIDR, which is one candidate subnet, or `CIDR:PREFIXLEN`, which is split into
subnets of that size (as Docker's default-address-pools `base`/`size`), e.g.
`10.201.0.0/16:24` gives 10.201.0.0/24, 10.201.1.0/24, ...

IPv6 networks created without a subnet get a /64 of a ULA /48 derived from
the machine id (RFC 4193's random global id, stable per host), as current
Docker allocates from its default IPv6 pool."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Iterator
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path

from hangu_runtime.errors import Conflict, InvalidArgument, Unavailable

Address = IPv4Address | IPv6Address
Subnet = IPv4Network | IPv6Network
MACHINE_ID = Path("/etc/machine-id")


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


def ula_base(machine_id: Path = MACHINE_ID) -> IPv6Network:
    """fdXX:XXXX:XXXX::/48, the 40-bit global id hashed from the machine id."""
    try:
        seed = machine_id.read_bytes().strip()
    except OSError:
        seed = b"hangu"
    gid = hashlib.sha256(seed).digest()[:5]
    return IPv6Network((int.from_bytes(b"\xfd" + gid + b"\0" * 10, "big"), 48))


def pick_subnet6(base: IPv6Network, avoid: Iterable[IPv6Network]) -> IPv6Network:
    """First /64 of the ULA base that overlaps no route, address or network."""
    taken = [n for n in avoid if n.prefixlen > 0]
    for candidate in base.subnets(new_prefix=64):
        if not any(candidate.overlaps(t) for t in taken):
            return candidate
    raise InvalidArgument("all predefined address pools have been fully subnetted")


def default_gateway(subnet: Subnet) -> Address:
    return subnet.network_address + 1


def allocate(
    subnet: Subnet,
    used: set[Address],
    gateway: Address | None,
    requested: str = "",
    ip_range: str = "",
    reserved: Iterable[Address] = (),
) -> Address:
    """The requested address if it is free and in the subnet, else the lowest
    free host address (inside ip_range when one is set). `reserved` holds
    the network's aux addresses."""
    taken = {subnet.network_address, *reserved}
    if subnet.version == 4:
        taken.add(subnet.broadcast_address)
    if gateway is not None:
        taken.add(gateway)
    if requested:
        try:
            addr = ipaddress.ip_address(requested)
        except ValueError as err:
            raise InvalidArgument(f"invalid IPv{subnet.version} address: {requested}") from err
        if addr not in subnet:
            raise InvalidArgument(
                f"Invalid address {addr}: It does not belong to any of this network's subnets"
            )
        if addr in used or addr in taken:
            raise Conflict(f"Address already in use: {addr}")
        return addr
    space = ipaddress.ip_network(ip_range, strict=False) if ip_range else subnet
    small = space.prefixlen >= space.max_prefixlen - 1
    for addr in space if small else space.hosts():
        if addr in subnet and addr not in used and addr not in taken:
            return addr
    # dockerd: ErrNoAvailableIPs, a 503
    raise Unavailable("no available addresses on this pool")


def mac_for(addr: Address) -> str:
    """Docker's MAC for a bridge endpoint: 02:42 then the four IPv4 octets
    (the last four bytes of an address)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in addr.packed[-4:])


def parse_network(value: str, version: int = 4) -> Subnet | None:
    """A subnet of that IP version, or None."""
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None
    return net if net.version == version else None
