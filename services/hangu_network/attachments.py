"""Attachments: the networks a container belongs to, from its create to its
removal (Docker's endpoint model). They are configuration — aliases, the
addresses and MAC asked for, links, driver options — recorded whether the
container runs or not; a running sandbox turns each into a live endpoint
(sandboxes.py). Knows nothing of gRPC."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from hangu_runtime.cache import RecordCache
from hangu_runtime.db import Writes
from hangu_runtime.errors import Forbidden, InvalidArgument, NotFound

from . import sysctls
from .models import AttachmentRow, MemberRow, NetworkRow
from .networks import Networks

# moby's runconfig errors, word for word (all "invalid parameter": 400).
ERR_SHARED = (
    "container sharing network namespace with another container or host "
    "cannot be connected to any other network"
)
ERR_HOST = "container cannot be disconnected from host network or connected to host network"
ERR_NONE = (
    "container cannot be connected to multiple networks with one of the networks in private "
    "(none) mode"
)
ERR_IP = "user specified IP address is supported on user defined networks only"
ERR_NO_SUBNET = (
    "user specified IP address is supported only when connecting to networks "
    "with user configured subnets"
)
ERR_ALIAS = "network-scoped alias is supported only for containers in user defined networks"

# The id recorded for a network named at create that does not exist (yet):
# Docker creates the container anyway and looks the name up at start.
UNRESOLVED = "unresolved:"


def _unresolved(name: str) -> NetworkRow:
    """A stand-in for a network that does not exist; never stored."""
    return NetworkRow(id=UNRESOLVED + name, name=name, driver="bridge")


def is_unresolved(network_id: str) -> bool:
    return network_id.startswith(UNRESOLVED)


@dataclass
class EndpointSpec:
    """One network as `EndpointsConfig` or `network connect` asks for it."""

    network: str = ""
    aliases: list[str] = field(default_factory=list)
    ipv4_address: str = ""
    ipv6_address: str = ""
    mac_address: str = ""
    links: list[str] = field(default_factory=list)
    driver_opts: dict[str, str] = field(default_factory=dict)
    link_local_ips: list[str] = field(default_factory=list)
    gw_priority: int = 0


@dataclass
class AttachmentView:
    member: MemberRow
    # By position: the network of the network mode first. The network is
    # None once it was removed (the start then fails as Docker's does).
    rows: list[tuple[AttachmentRow, NetworkRow | None]]

    @property
    def kind(self) -> str:
        return mode_kind(self.member.network_mode)


def mode_kind(mode: str) -> str:
    """bridge (any bridge network), host, none or container."""
    if mode.startswith("container:"):
        return "container"
    if mode in ("host", "none"):
        return mode
    return "bridge"


# A container's records as stored: its member row and its attachments by
# position. Held in memory once read and replaced whole on each change, so a
# reader never sees half of one.
Records = tuple[MemberRow, tuple[AttachmentRow, ...]]


class Attachments:
    """The records, written through to the database and read from memory:
    `network connect` and `disconnect` read them on every call, and a
    database read costs more than the netlink work of a hot-plug."""

    def __init__(self, networks: Networks) -> None:
        self.networks = networks
        self.engine = networks.engine
        self._records: RecordCache[str, Records] = RecordCache()

    # -- queries ---------------------------------------------------------
    def find(self, container_id: str) -> AttachmentView | None:
        found = self._records.get(container_id, self._load)
        if found is None:
            return None
        member, rows = found
        nets = self.networks.by_id()
        return AttachmentView(member, [(r, nets.get(r.network_id)) for r in rows])

    def _load(self, container_id: str) -> Records | None:
        with Session(self.engine, expire_on_commit=False) as s:
            member = s.get(MemberRow, container_id)
            if member is None:
                return None
            rows = tuple(
                s.exec(
                    select(AttachmentRow)
                    .where(AttachmentRow.container_id == container_id)
                    .order_by(col(AttachmentRow.position))
                )
            )
        return member, rows

    def reload(self, container_id: str) -> None:
        """A transaction of the caller's failed: read the records again."""
        self._keep(container_id, None)

    def _keep(self, container_id: str, records: Records | None) -> None:
        """After a write: the records as they now are (None: gone)."""
        self._records.keep(container_id, records)

    def get(self, container_id: str) -> AttachmentView:
        view = self.find(container_id)
        if view is None:
            raise NotFound(f"No such container: {container_id}")
        return view

    def matching(self, reference: str) -> list[str]:
        """The containers (created, running or stopped) that an id, id
        prefix or name refers to."""
        name = reference.lstrip("/")
        return [
            c
            for c, m in self.members().items()
            if c.startswith(reference) or m.container_name.lstrip("/") == name
        ]

    def members(self) -> dict[str, MemberRow]:
        with Session(self.engine, expire_on_commit=False) as s:
            return {m.container_id: m for m in s.exec(select(MemberRow))}

    # -- attach at create --------------------------------------------------
    def attach(
        self,
        container_id: str,
        container_name: str,
        network_mode: str,
        requests: Sequence[EndpointSpec],
    ) -> AttachmentView:
        """Record a new container's network mode and networks (replacing
        what an earlier attach recorded). Validates everything first."""
        if not container_id:
            raise InvalidArgument("container id must not be empty")
        mode = network_mode or "bridge"
        if mode == "default":
            mode = "bridge"
        primary = self._mode_network(mode)
        kind = mode_kind(mode)
        if kind == "bridge" and primary is not None and primary.plain:
            mode = "host" if primary.driver == "host" else "none"
            kind = mode
        planned: list[tuple[NetworkRow, EndpointSpec]] = []
        extra: list[tuple[NetworkRow, EndpointSpec]] = []
        first = EndpointSpec()
        for req in requests:
            net = self._network_or_unresolved(req.network) if req.network else primary
            if net is None:
                raise InvalidArgument(ERR_SHARED)
            if primary is not None and net.id == primary.id:
                first = req
            elif all(n.id != net.id for n, _ in extra):
                extra.append((net, req))
        if kind == "container" and (extra or any(r.network for r in requests)):
            raise InvalidArgument(ERR_SHARED)
        if (extra and kind == "host") or any(n.plain and n.driver == "host" for n, _ in extra):
            raise InvalidArgument(ERR_HOST)
        if (extra and kind == "none") or any(n.plain and n.driver == "null" for n, _ in extra):
            raise InvalidArgument(ERR_NONE)
        if primary is not None:
            planned.append((primary, first))
        planned += extra
        for net, req in planned:
            validate(net, req, known=not is_unresolved(net.id))
        member = MemberRow(
            container_id=container_id, container_name=container_name, network_mode=mode
        )
        rows = tuple(_row(container_id, net, req, i) for i, (net, req) in enumerate(planned))
        with Session(self.engine, expire_on_commit=False) as s:
            _delete_member(s, container_id)
            s.add(member)
            s.add_all(rows)
            s.commit()
        self._keep(container_id, (member, rows))
        return self.get(container_id)

    def _mode_network(self, mode: str) -> NetworkRow | None:
        if mode.startswith("container:"):
            if not mode.partition(":")[2]:
                raise InvalidArgument("container mode needs a container: container:<name|id>")
            return None
        return self._network_or_unresolved(mode)

    def _network_or_unresolved(self, reference: str) -> NetworkRow:
        try:
            return self.networks.get(reference)
        except NotFound:
            return _unresolved(reference)

    def resolve(self, container_id: str, row: AttachmentRow) -> tuple[AttachmentRow, NetworkRow]:
        """At start: the network an unresolved attachment names, looked up
        now (NotFound as Docker's start fails), and the record re-keyed to it."""
        net = self.networks.get(row.network_name)
        view = self.get(container_id)
        if any(r.network_id == net.id for r, _ in view.rows):
            raise Forbidden(
                f"endpoint with name {view.member.container_name} already exists "
                f"in network {net.name}"
            )
        spec = EndpointSpec(
            network=net.name,
            aliases=row.aliases,
            ipv4_address=row.ipv4_address,
            ipv6_address=row.ipv6_address,
            mac_address=row.mac_address,
            links=row.links,
            driver_opts=row.driver_opts,
            link_local_ips=row.link_local_ips,
            gw_priority=row.gw_priority,
        )
        validate(net, spec)
        new = _row(container_id, net, spec, row.position)
        writes = Writes()
        writes.delete(row)
        writes.insert(new)
        writes.commit(self.engine)
        rows = tuple(new if r.network_id == row.network_id else r for r, _ in view.rows)
        self._keep(container_id, (view.member, rows))
        return new, net

    # -- connect / disconnect records ---------------------------------------
    def add(
        self, container_id: str, req: EndpointSpec, into: Writes | None = None
    ) -> tuple[AttachmentRow, NetworkRow, AttachmentView]:
        """`network connect`: one more network, checked as Docker checks it.
        Also returns every attachment, the new one last. Recorded at once,
        or with `into` when the caller commits (and removes it on failure)."""
        view = self.get(container_id)
        net = self.networks.get(req.network)
        if view.kind == "container":
            raise InvalidArgument(ERR_SHARED)
        if net.plain and net.driver == "host" and view.kind != "host":
            raise InvalidArgument(ERR_HOST)
        if any(r.network_id == net.id for r, _ in view.rows):
            raise Forbidden(
                f"endpoint with name {view.member.container_name} already exists "
                f"in network {net.name}"
            )
        # As moby's updateNetworkSettings, against the networks attached now
        # (not the mode): a container that left `none` may join a bridge.
        for _, other in view.rows:
            plain = [n.driver for n in (net, other) if n is not None and n.plain]
            if "host" in plain:
                raise InvalidArgument(ERR_SHARED)
            if "null" in plain:
                raise InvalidArgument(ERR_NONE)
        validate(net, req)
        position = max((r.position for r, _ in view.rows), default=-1) + 1
        row = _row(container_id, net, req, position)
        writes = into or Writes()
        writes.insert(row)
        if into is None:
            writes.commit(self.engine)
        self._keep(container_id, (view.member, (*(r for r, _ in view.rows), row)))
        return row, net, AttachmentView(view.member, [*view.rows, (row, net)])

    def remove(
        self, container_id: str, network: str, into: Writes | None = None
    ) -> tuple[AttachmentRow, NetworkRow | None, AttachmentView]:
        """`network disconnect`: forget one network; its row as it was, and
        the attachments left. With `into`, gone when the caller commits."""
        view = self.get(container_id)
        net: NetworkRow | None
        try:
            net = self.networks.get(network)
        except NotFound:
            net = None
        match = [
            (r, n)
            for r, n in view.rows
            if (net is not None and r.network_id == net.id) or r.network_name == network
        ]
        if not match:
            if net is None:
                raise NotFound(f"network {network} not found")
            raise Forbidden(f"container {container_id} is not connected to network {net.name}")
        row, found = match[0]
        if view.kind == "host" or (found is not None and found.plain and found.driver == "host"):
            raise InvalidArgument(ERR_HOST)
        writes = into or Writes()
        writes.delete(row)
        if into is None:
            writes.commit(self.engine)
        left = [(r, n) for r, n in view.rows if r.network_id != row.network_id]
        self._keep(container_id, (view.member, tuple(r for r, _ in left)))
        return row, found, AttachmentView(view.member, left)

    def rename(self, container_id: str, name: str) -> None:
        view = self.get(container_id)
        member = MemberRow.model_validate(view.member.model_dump())
        member.container_name = name
        with Session(self.engine, expire_on_commit=False) as s:
            s.merge(member)
            s.commit()
        self._keep(container_id, (member, tuple(r for r, _ in view.rows)))

    def detach(self, container_id: str) -> None:
        """The container is gone: forget its mode and every attachment."""
        with Session(self.engine, expire_on_commit=False) as s:
            _delete_member(s, container_id)
            s.commit()
        self._keep(container_id, None)


def validate(net: NetworkRow, req: EndpointSpec, known: bool = True) -> None:
    """What Docker refuses before anything is set up (moby's
    validateEndpointSettings): addresses that are not addresses, addresses
    or aliases on the predefined networks. For a network that does not
    exist yet (`known` false) only what needs no network."""
    for text, version in ((req.ipv4_address, 4), (req.ipv6_address, 6)):
        if not text:
            continue
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            addr = None
        if addr is None or addr.version != version:
            raise InvalidArgument(f"invalid IPv{version} address: {text}")
    for text in req.link_local_ips:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise InvalidArgument(f"invalid link-local IP address: {text}") from None
    sysctls.parse(req.driver_opts)
    if req.mac_address and not _is_mac(req.mac_address):
        raise InvalidArgument(f"invalid MAC address: {req.mac_address}")
    if not known:
        return
    if net.predefined:
        if req.ipv4_address or req.ipv6_address:
            raise InvalidArgument(ERR_IP)
        if req.aliases:
            raise InvalidArgument(ERR_ALIAS)
    configured4 = bool(net.subnet) and not net.subnet_from_pool
    configured6 = bool(net.subnet6) and not net.subnet6_from_pool
    if (req.ipv4_address and not configured4) or (req.ipv6_address and not configured6):
        raise InvalidArgument(ERR_NO_SUBNET)


def _is_mac(text: str) -> bool:
    parts = text.split(":")
    return len(parts) == 6 and all(len(p) == 2 and _hex(p) for p in parts)


def _hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _row(container_id: str, net: NetworkRow, req: EndpointSpec, position: int) -> AttachmentRow:
    return AttachmentRow(
        container_id=container_id,
        network_id=net.id,
        network_name=net.name,
        position=position,
        aliases_json=json.dumps(list(dict.fromkeys(req.aliases))),
        links_json=json.dumps(req.links),
        driver_opts_json=json.dumps(req.driver_opts),
        ipv4_address=req.ipv4_address,
        ipv6_address=req.ipv6_address,
        link_local_json=json.dumps(req.link_local_ips),
        mac_address=req.mac_address.lower(),
        gw_priority=req.gw_priority,
    )


def _delete_member(s: Session, container_id: str) -> None:
    for row in s.exec(select(AttachmentRow).where(AttachmentRow.container_id == container_id)):
        s.delete(row)
    member = s.get(MemberRow, container_id)
    if member is not None:
        s.delete(member)
