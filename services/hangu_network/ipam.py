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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from ipaddress import (
    IPv4Address,
    IPv4Interface,
    IPv4Network,
    IPv6Address,
    IPv6Interface,
    IPv6Network,
)
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


def unassignable(subnet: Subnet) -> set[Address]:
    """Addresses dockerd's IPAM never hands out, as gateway or endpoint:
    the network address, and an IPv4 subnet's broadcast address (both
    only where the subnet has room for hosts besides them)."""
    if subnet.num_addresses <= 2:
        return set()
    held: set[Address] = {subnet.network_address}
    if subnet.version == 4:
        held.add(subnet.broadcast_address)
    return held


PoolConfig = tuple[str, str, str, Mapping[str, str]]  # subnet, ip range, gateway, aux


def validate_config(pools: Sequence[PoolConfig], enable_ipv6: bool) -> None:
    """IPAM.Config checked as current Docker checks it before anything else
    (api/types/network ValidateIPAM): every problem of every entry, in its
    words. IPv6 entries count only on an IPv6 network."""
    errors: list[str] = []
    for subnet_text, range_text, gateway_text, aux in pools:
        if not subnet_text:
            continue  # from the default pools; _plan_pool refuses a lone range
        subnet = _prefix(subnet_text)
        if subnet is None:
            errors.append(f"invalid subnet {subnet_text}: invalid CIDR block notation")
            continue
        if subnet.version == 6 and not enable_ipv6:
            continue
        if subnet.ip != subnet.network.network_address:
            errors.append(f"invalid subnet {subnet}: it should be {subnet.network}")
        errors += _range_errors(range_text, subnet.network)
        if gateway_text and (why := _address_error(gateway_text, subnet.network)):
            errors.append(f"invalid gateway {gateway_text}: {why}")
        for name, text in aux.items():
            if why := _address_error(text, subnet.network):
                errors.append(f"invalid auxiliary address {name}: {why}")
    if errors:
        joined = errors[0] if len(errors) == 1 else "* " + "\n* ".join(errors)
        raise InvalidArgument(f"invalid network config:\n{joined}")


def _prefix(text: str) -> IPv4Interface | IPv6Interface | None:
    """Go's netip.ParsePrefix: an address and a prefix length, both required."""
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


def _family(version: int) -> str:
    return f"IPv{version}"


def _range_errors(text: str, subnet: Subnet) -> list[str]:
    if not text:
        return []
    asked = _prefix(text)
    if asked is None:
        return [f"invalid ip-range {text}: invalid CIDR block notation"]
    if asked.version != subnet.version:
        return [f"invalid ip-range {text}: parent subnet is an {_family(subnet.version)} block"]
    errors = []
    if asked.network.prefixlen < subnet.prefixlen:
        errors.append(
            f"invalid ip-range {text}: CIDR block is bigger than its parent subnet {subnet}"
        )
    if asked.ip != asked.network.network_address:
        errors.append(f"invalid ip-range {asked}: it should be {asked.network}")
    if not asked.network.overlaps(subnet):
        errors.append(f"invalid ip-range {text}: parent subnet {subnet} doesn't contain ip-range")
    return errors


def _address_error(text: str, subnet: Subnet) -> str:
    """Why an address cannot be one of the subnet's ("": it can)."""
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return "invalid address"
    if addr.version != subnet.version:
        return f"parent subnet is an {_family(subnet.version)} block"
    if addr not in subnet:
        return f"parent subnet {subnet} doesn't contain this address"
    return ""
