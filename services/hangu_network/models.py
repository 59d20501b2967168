"""The network service's tables (SQLite, SQLModel)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class NetworkBase(SQLModel, registry=registry()):
    """Own metadata: several services' tables may share a process in tests."""


# The predefined networks that give a container no interface of its own.
PLAIN_DRIVERS = ("host", "null")


class NetworkRow(NetworkBase, table=True):
    __tablename__ = "networks"
    id: str = Field(primary_key=True)
    name: str = Field(index=True, unique=True)
    driver: str
    bridge: str = ""  # Linux bridge (driver bridge)
    subnet: str = ""  # IPv4
    gateway: str = ""
    ip_range: str = ""
    # Picked from the default pools rather than given by the user: --ip and
    # --ip6 are refused there, as Docker refuses them.
    subnet_from_pool: bool = False
    # The gateway of a subnet given without one: inspect's IPAM.Config
    # leaves it out, as dockerd keeps the config as given.
    gateway_implied: bool = False
    subnet6: str = ""  # IPv6 (EnableIPv6)
    gateway6: str = ""
    gateway6_implied: bool = False
    ip_range6: str = ""
    subnet6_from_pool: bool = False
    aux_addresses_json: str = "{}"  # name -> address, never handed out
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    predefined: bool = False
    ipam_driver: str = "default"
    options_json: str = "{}"
    labels_json: str = "{}"
    ipam_options_json: str = "{}"
    # --config-only: a configuration other networks take (--config-from);
    # no bridge, no addresses, no endpoints (driver "null", as dockerd shows)
    config_only: bool = False
    config_from: str = ""  # the configuration network's name
    created: float = Field(default_factory=time.time)

    @property
    def plain(self) -> bool:
        """`host` or `none`: a container on it has no interface of its own."""
        return self.predefined and self.driver in PLAIN_DRIVERS

    @property
    def options(self) -> dict[str, str]:
        return dict(json.loads(self.options_json))

    @property
    def labels(self) -> dict[str, str]:
        return dict(json.loads(self.labels_json))

    @property
    def subnets(self) -> list[str]:
        return [n for n in (self.subnet, self.subnet6) if n]

    @property
    def aux_addresses(self) -> dict[str, str]:
        return dict(json.loads(self.aux_addresses_json))

    def ipam_configs(self) -> list[IpamConfig]:
        """IPAM.Config: one entry per family that has a subnet."""
        aux = self.aux_addresses
        out = []
        for subnet, gateway, implied, ip_range in (
            (self.subnet, self.gateway, self.gateway_implied, self.ip_range),
            (self.subnet6, self.gateway6, self.gateway6_implied, self.ip_range6),
        ):
            if subnet:
                net = ipaddress.ip_network(subnet)
                mine = {k: v for k, v in aux.items() if ipaddress.ip_address(v) in net}
                out.append(IpamConfig(subnet, gateway, implied, ip_range, mine))
        return out


@dataclass(frozen=True)
class IpamConfig:
    subnet: str
    gateway: str
    gateway_implied: bool  # not asked for: the subnet's first address
    ip_range: str
    aux_addresses: dict[str, str]


class AllocationRow(NetworkBase, table=True):
    """One address (IPv4 or IPv6) taken in a network by an endpoint."""

    __tablename__ = "allocations"
    network_id: str = Field(primary_key=True)
    address: str = Field(primary_key=True)
    owner: str = ""  # endpoint id


class SandboxRow(NetworkBase, table=True):
    __tablename__ = "sandboxes"
    container_id: str = Field(primary_key=True)
    container_name: str = ""
    hostname: str = ""
    domainname: str = ""
    network_mode: str = ""
    netns_path: str = ""
    files_dir: str = ""
    extra_hosts_json: str = "[]"
    link_hosts_json: str = "[]"  # [ip, names] of --link on the default bridge, resolved at start
    dns_json: str = "[]"  # --dns, --dns-search, --dns-option: the files are rewritten
    dns_search_json: str = "[]"  # when a network is connected or disconnected
    dns_options_json: str = "[]"
    ports_json: str = "[]"  # resolved PortRule dicts
    created: float = Field(default_factory=time.time)

    @property
    def ports(self) -> list[dict[str, Any]]:
        return list(json.loads(self.ports_json))


class MemberRow(NetworkBase, table=True):
    """A container the network service knows, from its create to its
    removal, with its network mode."""

    __tablename__ = "members"
    container_id: str = Field(primary_key=True)
    container_name: str = ""
    # bridge, none, host, container:<id>, or a user network's name as given
    network_mode: str = "bridge"
    created: float = Field(default_factory=time.time)


class AttachmentRow(NetworkBase, table=True):
    """One network a container is attached to, running or not (Docker's
    EndpointSettings as configured); the live interface is an EndpointRow."""

    __tablename__ = "attachments"
    container_id: str = Field(primary_key=True)
    network_id: str = Field(primary_key=True)
    network_name: str = ""  # for Docker's "network x not found" once it is gone
    position: int = 0  # 0: the network of the network mode (eth0, default route)
    aliases_json: str = "[]"
    links_json: str = "[]"
    driver_opts_json: str = "{}"
    ipv4_address: str = ""  # asked for (--ip), kept across restarts
    ipv6_address: str = ""  # asked for (--ip6)
    link_local_json: str = "[]"
    mac_address: str = ""  # asked for (--mac-address)
    gw_priority: int = 0  # --gw-priority (API 1.48)
    created: float = Field(default_factory=time.time)

    @property
    def aliases(self) -> list[str]:
        return list(json.loads(self.aliases_json))

    @property
    def links(self) -> list[str]:
        return list(json.loads(self.links_json))

    @property
    def link_targets(self) -> list[tuple[str, str]]:
        """(name, alias) of each link, from `name[:alias]` as the CLI sends
        it or dockerd's `/name:/self/alias`; the alias defaults to the name."""
        out = []
        for link in self.links:
            name, _, alias = link.partition(":")
            name = name.strip("/")
            out.append((name, alias.rsplit("/", 1)[-1] if alias else name))
        return out

    @property
    def driver_opts(self) -> dict[str, str]:
        return dict(json.loads(self.driver_opts_json))

    @property
    def link_local_ips(self) -> list[str]:
        return list(json.loads(self.link_local_json))


class EndpointRow(NetworkBase, table=True):
    __tablename__ = "endpoints"
    id: str = Field(primary_key=True)
    container_id: str = Field(index=True)
    network_id: str = Field(index=True)
    ifname: str = "eth0"  # inside the namespace
    ifindex: int = 0  # its index there (0: look it up by name)
    veth: str = ""  # host side
    ipv4_address: str = ""
    prefix_len: int = 0
    gateway: str = ""
    mac_address: str = ""
    ipv6_address: str = ""
    ipv6_prefix_len: int = 0
    ipv6_gateway: str = ""
    aliases_json: str = "[]"
    gw_priority: int = 0  # its attachment's, when it was plugged
    created: float = Field(default_factory=time.time)

    @property
    def aliases(self) -> list[str]:
        return list(json.loads(self.aliases_json))


def plain_endpoint(sandbox: SandboxRow, network_id: str) -> EndpointRow:
    """A running container's endpoint on `host` or `none`: no interface and
    no address, only the id Docker shows (new for each start, as dockerd's,
    and the same for every look at one start), so it is never stored."""
    seed = f"{sandbox.container_id}\0{network_id}\0{sandbox.created!r}"
    return EndpointRow(
        id=hashlib.sha256(seed.encode()).hexdigest(),
        container_id=sandbox.container_id,
        network_id=network_id,
        ifname="",
        created=sandbox.created,
    )


class TeardownRow(NetworkBase, table=True):
    """A removed network's bridge that is still to be taken down (teardown.py)."""

    __tablename__ = "bridge_teardowns"
    bridge: str = Field(primary_key=True)
    subnet: str = ""  # its subnets (IPv4, IPv6), comma-separated

    @property
    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(n, strict=False) for n in self.subnet.split(",") if n]
