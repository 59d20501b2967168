"""Networks: the predefined `bridge`, `host` and `none`, user bridge
networks, their IPAM and their kernel state (Linux bridge, nftables set
elements, DOCKER-USER accept rules). Knows nothing of gRPC."""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from hangu_runtime import logging as hlog
from hangu_runtime.config import Settings
from hangu_runtime.db import Writes
from hangu_runtime.errors import (
    Conflict,
    Forbidden,
    HanguError,
    Internal,
    InvalidArgument,
    NotFound,
)
from hangu_runtime.events import EventBus
from hangu_runtime.filters import Args, match_labels, prune_until
from hangu_runtime.ids import new_id

from . import bridgeopts, configonly, dockeruser, ipam
from .dns import DnsServer
from .links import HostLinks
from .models import (
    AllocationRow,
    AttachmentRow,
    EndpointRow,
    NetworkRow,
    SandboxRow,
    TeardownRow,
    plain_endpoint,
)
from .names import NameIndex
from .nft import Nft
from .specs import NetworkSpec, PoolSpec
from .teardown import BridgeTeardown

log = hlog.get_logger("hangu.network.networks")

PREDEFINED = ("bridge", "host", "none")
HOST_LOCK = "/run/hangu-network.lock"


# dockerd's accepted keys (daemon/network/filter.go).
LIST_FILTERS = frozenset({"dangling", "driver", "id", "label", "name", "scope", "type"})
PRUNE_FILTERS = frozenset({"label", "label!", "until"})


@dataclass
class PoolPlan:
    subnet: ipam.Subnet
    gateway: ipam.Address
    ip_range: str
    from_pool: bool
    implied_gateway: bool = False  # a given subnet's first address, not asked for


class Networks:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        links: HostLinks,
        nft: Nft,
        events: EventBus,
        dns: DnsServer | None = None,
    ) -> None:
        self.settings = settings
        self.dns = dns
        self.engine = engine
        self.links = links
        self.nft = nft
        self.events = events
        self.lock = threading.RLock()  # network create/remove and IPAM
        self.teardown = BridgeTeardown(engine, links)
        self.names = NameIndex(engine)
        self._cache: list[NetworkRow] | None = None
        self._releasing: set[str] = set()  # endpoint ids, see releasing()
        # network id -> address -> owner: the allocations table as stored,
        # read once per network and written through (under self.lock).
        self._allocated: dict[str, dict[str, str]] = {}
        self._cache_lock = threading.Lock()

    # -- start-up -------------------------------------------------------
    def startup(self) -> None:
        self.nft.ensure_table()
        with self.lock, host_lock():
            self.teardown.finish()
            self._ensure_predefined()
            self._repick_default_subnet()
            for row in self.all():
                if row.driver == "bridge":
                    self._kernel_up(row)

    def _repick_default_subnet(self) -> None:
        """The default bridge is gone (purged, rebooted) and meanwhile its
        subnet was taken by another route: with no address in use, pick again."""
        row = self.get("bridge")
        if self.links.index(row.bridge) is not None:
            return
        subnet = IPv4Network(row.subnet)
        if not any(subnet.overlaps(n) for n in self.links.host_networks(4) if n.prefixlen):
            return
        with Session(self.engine, expire_on_commit=False) as s:
            if s.exec(select(AllocationRow).where(AllocationRow.network_id == row.id)).first():
                return
            fresh = self._pick_subnet(s)
            row.subnet, row.gateway = str(fresh), str(ipam.default_gateway(fresh))
            s.add(row)
            s.commit()
            self._changed()
        log.info(
            "default_bridge_subnet",
            subnet=row.subnet,
            bridge=row.bridge,
            why="previous subnet now used by a host route",
        )

    def _ensure_predefined(self) -> None:
        with Session(self.engine, expire_on_commit=False) as s:
            have = {r.name: r for r in s.exec(select(NetworkRow).where(NetworkRow.predefined))}
            if "bridge" not in have:
                subnet = self._pick_subnet(s)
                row = NetworkRow(
                    id=new_id(),
                    name="bridge",
                    driver="bridge",
                    bridge=self.settings.bridge,
                    subnet=str(subnet),
                    gateway=str(ipam.default_gateway(subnet)),
                    predefined=True,
                    options_json=json.dumps(
                        bridgeopts.default_bridge_options(self.settings.bridge)
                    ),
                )
                s.add(row)
                log.info("default_bridge_subnet", subnet=str(subnet), bridge=row.bridge)
            elif have["bridge"].bridge != self.settings.bridge:
                row = have["bridge"]
                row.bridge = self.settings.bridge
                row.options_json = json.dumps(
                    bridgeopts.default_bridge_options(self.settings.bridge)
                )
                s.add(row)
            for name, driver in (("host", "host"), ("none", "null")):
                if name not in have:
                    s.add(NetworkRow(id=new_id(), name=name, driver=driver, predefined=True))
            s.commit()
            self._changed()

    def _tearing_down(self, s: Session) -> list[ipam.Subnet]:
        """Subnets of removed networks whose bridge is still going down: a
        pick skips them rather than wait for the teardown."""
        return [n for row in s.exec(select(TeardownRow)) for n in row.networks]

    def _pick_subnet(self, s: Session) -> IPv4Network:
        avoid = [*self.links.host_networks(4), *self._subnets(s), *self._tearing_down(s)]
        return ipam.pick_subnet(
            self.settings.subnet_pool, [n for n in avoid if isinstance(n, IPv4Network)]
        )

    def _pick_subnet6(self, s: Session) -> IPv6Network:
        avoid = [*self.links.host_networks(6), *self._subnets(s), *self._tearing_down(s)]
        return ipam.pick_subnet6(ipam.ula_base(), [n for n in avoid if isinstance(n, IPv6Network)])

    # -- kernel state ----------------------------------------------------
    def _kernel_up(self, row: NetworkRow) -> None:
        gateways = [
            (ipaddress.ip_address(gw), ipaddress.ip_network(net).prefixlen)
            for net, gw in ((row.subnet, row.gateway), (row.subnet6, row.gateway6))
            if net and gw
        ]
        self.links.ensure_bridge(row.bridge, gateways, bridgeopts.mtu(row))
        masquerade = not row.internal and bridgeopts.flag(row, bridgeopts.MASQUERADE_OPT)
        dns = self.dns_addresses(row)
        self.nft.add_network(
            row.bridge,
            row.subnets if masquerade else [],
            dns,
            row.internal,
            bridgeopts.icc_enabled(row),
        )
        if not row.internal:
            _enable_forwarding(ipv6=bool(row.subnet6))
        dockeruser.add(row.bridge)
        if self.dns is not None:
            for address in dns:
                self.dns.serve(address, self.names.zone(row.id))

    def _kernel_down(self, row: NetworkRow) -> None:
        self._unserve(row)
        dockeruser.remove(row.bridge)
        self.links.delete(row.bridge)
        log.info("bridge_removed", bridge=row.bridge, network=row.name)

    def _unserve(self, row: NetworkRow) -> None:
        """What makes a network reachable: its resolver and nftables elements."""
        dns = self.dns_addresses(row)
        if self.dns is not None:
            for address in dns:
                self.dns.stop_serving(address)
        self.nft.remove_network(row.bridge, row.subnets, dns)

    def close(self) -> None:
        self.teardown.close()

    # -- container DNS -----------------------------------------------------
    @staticmethod
    def dns_addresses(row: NetworkRow) -> list[str]:
        """Where the resolver for this network listens: the gateways (IPv4,
        IPv6) of user bridge networks. The default `bridge` has no container
        DNS, as in Docker."""
        if row.driver != "bridge" or row.predefined:
            return []
        return [gw for gw in (row.gateway, row.gateway6) if gw]

    def purge_kernel(self) -> None:
        self.teardown.finish()
        for row in self.all():
            if row.driver == "bridge" and row.bridge:
                self._kernel_down(row)
        self.nft.delete_table()

    # -- queries ---------------------------------------------------------
    def all(self) -> list[NetworkRow]:
        """Every network, oldest first. Held in memory: it is read on every
        create, connect and inspect, and changes only here (`_changed()`).
        The rows are shared: callers read them, never change them."""
        with self._cache_lock:
            if self._cache is not None:
                return list(self._cache)
        with Session(self.engine, expire_on_commit=False) as s:
            rows = list(s.exec(select(NetworkRow).order_by(col(NetworkRow.created))))
        with self._cache_lock:
            self._cache = rows
        return list(rows)

    def by_id(self) -> dict[str, NetworkRow]:
        return {n.id: n for n in self.all()}

    def _changed(self) -> None:
        with self._cache_lock:
            self._cache = None
        # `<name>.<network>` answers depend on the networks' names too.
        self.names.changed()

    def get(self, reference: str) -> NetworkRow:
        rows = self.all()
        for row in rows:
            if row.id == reference:
                return row
        for row in rows:
            if row.name == reference:
                return row
        matches = [r for r in rows if reference and r.id.startswith(reference)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise InvalidArgument(
                f"network {reference} is ambiguous "
                f"({len(matches)} matches found based on ID prefix)"
            )
        raise NotFound(f"network {reference} not found")

    def default(self) -> NetworkRow:
        """Docker's `bridge` (names are unique, so no user network has it)."""
        return self.get("bridge")

    def endpoints(self, network_id: str) -> list[tuple[EndpointRow, str]]:
        """Endpoints of a network with their container names: on `host` and
        `none`, one for each running container attached to it."""
        with Session(self.engine, expire_on_commit=False) as s:
            sandboxes = {sb.container_id: sb for sb in s.exec(select(SandboxRow))}
            row = s.get(NetworkRow, network_id)
            if row is not None and row.plain:
                attached = s.exec(
                    select(AttachmentRow.container_id).where(AttachmentRow.network_id == network_id)
                )
                eps = [plain_endpoint(sandboxes[c], network_id) for c in attached if c in sandboxes]
            else:
                eps = list(s.exec(select(EndpointRow).where(EndpointRow.network_id == network_id)))
        return [
            (ep, sandboxes[ep.container_id].container_name if ep.container_id in sandboxes else "")
            for ep in eps
        ]

    def matching(self, filters: Mapping[str, Sequence[str]]) -> list[NetworkRow]:
        """`docker network ls`: the networks its filters select."""
        args = Args(filters)
        args.validate(LIST_FILTERS)
        for kind in args.get("type"):
            # dockerd refuses a type it does not know rather than match nothing
            if kind not in ("builtin", "custom"):
                raise InvalidArgument(f"invalid filter: 'type'='{kind}'")
        dangling = _dangling(args)
        return [r for r in self.all() if self._matches(r, args, dangling)]

    def _matches(self, row: NetworkRow, args: Args, dangling: bool | None) -> bool:
        for key, values in args.items():
            if not values:
                continue
            if key == "name" and not any(v in row.name for v in values):
                return False
            if key == "id" and not any(row.id.startswith(v) or v in row.id for v in values):
                return False
            if key == "driver" and row.driver not in values:
                return False
            if key == "scope" and "local" not in values:
                return False
            if key == "type":
                kind = "builtin" if row.predefined else "custom"
                if kind not in values:
                    return False
        if not args.match_kv_list("label", row.labels):
            return False
        return dangling is None or dangling == (not row.predefined and not self.endpoints(row.id))

    # -- create / remove -------------------------------------------------
    def create(self, spec: NetworkSpec) -> NetworkRow:
        driver = spec.driver or "bridge"
        if not spec.name:
            raise InvalidArgument("network name must not be empty")
        if spec.config_only:
            return self._create_config_only(spec)
        if spec.config_from:
            spec = configonly.inherit(spec, configonly.config_network(self.all(), spec.config_from))
        if driver in ("host", "null"):
            raise Forbidden(f'only one instance of "{driver}" network is allowed')
        if driver != "bridge":
            raise NotFound(f'plugin "{driver}" not found')
        if spec.ipam_driver not in ("", "default"):
            raise NotFound(f'plugin "{spec.ipam_driver}" not found')
        # Checked before anything is taken, as dockerd checks them: a refusal
        # leaves nothing behind.
        bridgeopts.check_options(spec.options)
        ipam.validate_config(
            [(p.subnet, p.ip_range, p.gateway, p.aux_addresses) for p in spec.pools],
            spec.enable_ipv6,
        )
        with self.lock, host_lock(), Session(self.engine, expire_on_commit=False) as s:
            if s.exec(select(NetworkRow).where(NetworkRow.name == spec.name)).first():
                raise Conflict(f"network with name {spec.name} already exists")
            nid = new_id()
            asked4 = _one_pool(spec.pools, 4)
            v4 = self._plan_pool(s, 4, asked4.subnet, asked4.gateway, asked4.ip_range)
            v6 = None
            if spec.enable_ipv6:
                asked6 = _one_pool(spec.pools, 6)
                v6 = self._plan_pool(s, 6, asked6.subnet, asked6.gateway, asked6.ip_range)
            aux = _aux_addresses(
                {k: v for p in spec.pools for k, v in p.aux_addresses.items()},
                [p.subnet for p in (v4, v6) if p],
            )
            bridge = spec.options.get(bridgeopts.BRIDGE_NAME_OPT) or "br-" + nid[:12]
            if len(bridge) > 15:
                raise InvalidArgument(f"bridge name {bridge} is longer than 15 characters")
            # A removed network's bridge still going down must be gone first.
            self.teardown.finish(bridge=bridge, subnets=[str(p.subnet) for p in (v4, v6) if p])
            if (
                any(r.bridge == bridge for r in s.exec(select(NetworkRow)))
                or self.links.index(bridge) is not None
            ):
                raise Conflict(f"bridge name {bridge} is already in use")
            row = NetworkRow(
                id=nid,
                name=spec.name,
                driver=driver,
                bridge=bridge,
                subnet=str(v4.subnet),
                gateway=str(v4.gateway),
                gateway_implied=v4.implied_gateway,
                ip_range=v4.ip_range,
                subnet_from_pool=v4.from_pool,
                subnet6=str(v6.subnet) if v6 else "",
                gateway6=str(v6.gateway) if v6 else "",
                gateway6_implied=v6.implied_gateway if v6 else False,
                ip_range6=v6.ip_range if v6 else "",
                subnet6_from_pool=v6.from_pool if v6 else False,
                aux_addresses_json=json.dumps(aux),
                internal=spec.internal,
                attachable=spec.attachable,
                enable_ipv6=spec.enable_ipv6,
                ipam_driver="default",
                options_json=json.dumps(spec.options),
                labels_json=json.dumps(spec.labels),
                ipam_options_json=json.dumps(spec.ipam_options),
                config_from=spec.config_from,
            )
            s.add(row)
            s.commit()
            self._changed()
            try:
                # Inside the host lock: once the bridge has its route, no
                # other hangu on this host can pick the same subnet.
                self._kernel_up(row)
            except Exception as err:
                self._kernel_down(row)
                s.delete(row)
                s.commit()
                self._changed()
                if isinstance(err, HanguError):
                    raise
                # the kernel's refusal in words, never a Python exception's text
                raise Internal(f"failed to set up bridge {bridge}: {_kernel_words(err)}") from err
        self.events.emit("create", row.id, name=row.name, type=row.driver)
        return row

    def _create_config_only(self, spec: NetworkSpec) -> NetworkRow:
        """A configuration network: checked as any, kept as given, nothing
        made in the kernel and no subnet reserved (dockerd's)."""
        configonly.check_config_only(spec)
        bridgeopts.check_options(spec.options)
        ipam.validate_config(
            [(p.subnet, p.ip_range, p.gateway, p.aux_addresses) for p in spec.pools],
            spec.enable_ipv6,
        )
        for version in (4, 6):
            _one_pool(spec.pools, version)  # one pool per family, as every network
        with self.lock, Session(self.engine, expire_on_commit=False) as s:
            if s.exec(select(NetworkRow).where(NetworkRow.name == spec.name)).first():
                raise Conflict(f"network with name {spec.name} already exists")
            row = configonly.config_only_row(spec, new_id())
            s.add(row)
            s.commit()
            self._changed()
        log.info("network_created", network=row.name, config_only=True)
        self.events.emit("create", row.id, name=row.name, type=row.driver)
        return row

    def _plan_pool(
        self, s: Session, version: int, subnet_text: str, gateway_text: str, range_text: str
    ) -> PoolPlan:
        """One family's subnet, gateway and range: as asked (checked as
        dockerd checks them), or the next free subnet of the default pools."""
        if subnet_text:
            subnet = ipam.parse_network(subnet_text, version)
            if subnet is None:
                raise InvalidArgument(f"invalid subnet {subnet_text}")
            for other in self._subnets(s):
                if other.version == subnet.version and other.overlaps(subnet):
                    raise Forbidden(
                        "invalid pool request: Pool overlaps with other one on this address space"
                    )
        elif gateway_text or range_text:
            raise InvalidArgument("ip-range and gateway need a subnet (--subnet)")
        else:
            subnet = self._pick_subnet(s) if version == 4 else self._pick_subnet6(s)
        try:
            gateway = ipaddress.ip_address(gateway_text) if gateway_text else None
        except ValueError as err:
            raise InvalidArgument(f"invalid gateway address {gateway_text}") from err
        if gateway is None:
            gateway = ipam.default_gateway(subnet)
        if gateway not in subnet:
            raise InvalidArgument(f"gateway {gateway} is not in subnet {subnet}")
        if gateway in ipam.unassignable(subnet):
            # dockerd's IPAM holds these back; its wording, as a client error
            raise InvalidArgument(f"failed to allocate gateway ({gateway}): Address already in use")
        if range_text:
            ip_range = ipam.parse_network(range_text, version)
            if ip_range is None or not ip_range.subnet_of(subnet):  # type: ignore[arg-type]
                raise InvalidArgument(f"invalid ip range {range_text} for subnet {subnet}")
        return PoolPlan(
            subnet,
            gateway,
            range_text,
            from_pool=not subnet_text,
            implied_gateway=bool(subnet_text) and not gateway_text,
        )

    def _subnets(self, s: Session) -> list[ipam.Subnet]:
        out: list[ipam.Subnet] = []
        for row in s.exec(select(NetworkRow)):
            if not row.config_only:  # a configuration reserves nothing
                out += [ipaddress.ip_network(n) for n in (row.subnet, row.subnet6) if n]
        return out

    def remove(self, reference: str) -> None:
        with self.lock:
            row = self.get(reference)
            if row.predefined:
                raise Forbidden(f"{row.name} is a pre-defined network and cannot be removed")
            if row.config_only and any(n.config_from == row.name for n in self.all()):
                raise Forbidden(
                    f'error while removing network: configuration network "{row.name}" is in use'
                )
            if self.endpoints(row.id):
                # dockerd answers 403 here (libnetwork's ActiveEndpointsError)
                raise Forbidden(
                    f"error while removing network: network {row.name} "
                    f"id {row.id} has active endpoints"
                )
            self._unserve(row)
            with Session(self.engine, expire_on_commit=False) as s:
                for a in s.exec(select(AllocationRow).where(AllocationRow.network_id == row.id)):
                    s.delete(a)
                s.delete(s.get(NetworkRow, row.id))
                if row.bridge:
                    self.teardown.record(s, row.bridge, row.subnets)
                s.commit()
                self._allocated.pop(row.id, None)
                self._changed()
            self.teardown.wake()
            log.info("network_removed", network=row.name, bridge=row.bridge)
        self.events.emit("destroy", row.id, name=row.name, type=row.driver)

    def prune(self, filters: Mapping[str, Sequence[str]]) -> list[str]:
        """`docker network prune`: unused user networks its filters select
        (label, label!, until), as dockerd's NetworkPrune."""
        args = Args(filters)
        args.validate(PRUNE_FILTERS)
        until_ns = prune_until(args)
        deleted = []
        for row in self.all():
            if not match_labels(args, row.labels):
                continue
            if until_ns is not None and int(row.created * 1e9) > until_ns:
                continue
            if row.predefined or row.config_only or self.endpoints(row.id):
                continue  # dockerd's prune keeps configuration networks
            try:
                self.remove(row.id)
            except (Conflict, Forbidden, NotFound):
                continue
            deleted.append(row.name)
        return deleted

    # -- IPAM ------------------------------------------------------------
    def allocate(
        self,
        network: NetworkRow,
        owner: str,
        requested: str = "",
        version: int = 4,
        into: Writes | None = None,
    ) -> ipam.Address:
        """An address of that family for an endpoint, taken at once and
        recorded: committed here, or in `into` when its caller commits (one
        transaction per connect); a caller that fails releases it."""
        subnet_text, gateway, ip_range = (
            (network.subnet, network.gateway, network.ip_range)
            if version == 4
            else (network.subnet6, network.gateway6, network.ip_range6)
        )
        subnet = ipaddress.ip_network(subnet_text)
        reserved = [
            a for a in map(ipaddress.ip_address, network.aux_addresses.values()) if a in subnet
        ]
        requested = str(ipaddress.ip_address(requested)) if requested else ""
        with self.lock:
            taken = self._taken(network.id)
            # An address asked for again (a restart, a reconnect with --ip)
            # may still be held by its previous endpoint, whose veth is
            # being deleted off the request path: that endpoint is gone, so
            # the address is the new one's.
            takeover = bool(requested) and taken.get(requested) in self._releasing
            addr = ipam.allocate(
                subnet,
                {ipaddress.ip_address(a) for a in taken if not (takeover and a == requested)},
                ipaddress.ip_address(gateway) if gateway else None,
                requested,
                ip_range,
                reserved,
            )
            writes = into or Writes()
            if takeover:
                writes.delete(AllocationRow(network_id=network.id, address=requested))
            writes.insert(AllocationRow(network_id=network.id, address=str(addr), owner=owner))
            if into is None:
                writes.commit(self.engine)
            taken[str(addr)] = owner
            return addr

    def _taken(self, network_id: str) -> dict[str, str]:
        """The network's allocations (address -> owner); under self.lock."""
        found = self._allocated.get(network_id)
        if found is None:
            with Session(self.engine, expire_on_commit=False) as s:
                rows = s.exec(select(AllocationRow).where(AllocationRow.network_id == network_id))
                found = self._allocated[network_id] = {a.address: a.owner for a in rows}
        return found

    def releasing(self, owner: str) -> None:
        """The endpoint is gone and its addresses are about to be freed (its
        veth is deleted off the request path): asked for again, they may be
        taken over at once."""
        with self.lock:
            self._releasing.add(owner)

    def release(self, network_id: str, address: str, owner: str = "") -> None:
        """Free an address; with `owner`, only while that endpoint holds it
        (a new endpoint may have taken it over meanwhile, see allocate)."""
        with self.lock:
            taken = self._taken(network_id)
            holder = taken.get(address)
            if holder is None or (owner and holder != owner):
                return
            writes = Writes()
            writes.delete(AllocationRow(network_id=network_id, address=address))
            writes.commit(self.engine)
            del taken[address]

    def released(self, owner: str) -> None:
        """Every address of that endpoint is free (or was taken over)."""
        with self.lock:
            self._releasing.discard(owner)


def _one_pool(pools: Sequence[PoolSpec], version: int) -> PoolSpec:
    """The IPAM config of that family (empty: from the default pools). A
    bridge has at most one per family, as moby's bridge driver allows."""
    found = [p for p in pools if p.version == version]
    if len(found) > 1:
        raise Forbidden("bridge driver doesn't support multiple subnets")
    return found[0] if found else PoolSpec()


def _aux_addresses(asked: Mapping[str, str], subnets: Sequence[ipam.Subnet]) -> dict[str, str]:
    """--aux-address name=ip: each in one of the network's subnets."""
    out = {}
    for name, text in asked.items():
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            raise InvalidArgument(f"invalid auxiliary address {name}={text}") from None
        if not any(addr in n for n in subnets):
            raise InvalidArgument(
                f"auxiliary address {name}={text} is not in any subnet of the network"
            )
        out[name] = str(addr)
    return out


def _kernel_words(err: Exception) -> str:
    """An errno as Go's syscall errors word it ("invalid argument")."""
    code = getattr(err, "code", None) or getattr(err, "errno", None)
    return os.strerror(code).lower() if isinstance(code, int) else str(err)


@contextmanager
def host_lock() -> Iterator[None]:
    """Serialises subnet picking with every other hangu on this host (test
    stacks run side by side): pick, then create the bridge, then release."""
    with open(HOST_LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _dangling(args: Args) -> bool | None:
    """The list's `dangling` filter, with dockerd's network wording (not
    GetBoolOrDefault's): None without one."""
    values = args.get("dangling")
    if not values:
        return None
    if len(values) > 1:
        raise InvalidArgument('got more than one value for filter key "dangling"')
    if values[0] in ("1", "true"):
        return True
    if values[0] in ("0", "false"):
        return False
    raise InvalidArgument(
        """invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")"""
    )


def _enable_forwarding(ipv6: bool) -> None:
    """Routing between the bridges and the host's links, as dockerd turns it
    on: IPv4 always, IPv6 once a network has an IPv6 subnet."""
    paths = [Path("/proc/sys/net/ipv4/ip_forward")]
    if ipv6:
        paths.append(Path("/proc/sys/net/ipv6/conf/all/forwarding"))
    for path in paths:
        try:
            if path.read_text().strip() != "1":
                path.write_text("1")
                log.info("forwarding_enabled", sysctl=str(path), why="bridge traffic is routed")
        except OSError as err:
            log.warning("forwarding_failed", sysctl=str(path), error=str(err))
