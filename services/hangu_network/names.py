"""The names the resolver answers on each user network, held in memory.

A query must not touch the database: with 300 containers on a network a
scan per query costs milliseconds. Each network's table (container name,
hostname, short id, network aliases → its IPv4 and IPv6 addresses, each
address → its `<container>.<network>` name for reverse lookups, and each
address → the --dns servers of its container) is built from the database on
the first query after a change, and every change of endpoints, sandboxes or
networks drops the tables (`changed()`), so an answer never outlives its
endpoint.

As Docker's embedded DNS, `<name>.<network>` answers a name on any network
the asking container is connected to (the network's name may hold dots:
`a.b.c` is tried as `a.b` on network `c`, then `a` on network `b.c`), and
a reverse lookup answers the addresses of all those networks."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from hangu_runtime.cache import RecordCache

from .dns import Records, Zone
from .models import AttachmentRow, EndpointRow, NetworkRow, SandboxRow


@dataclass
class NetworkNames:
    records: dict[str, Records] = field(default_factory=dict)
    upstreams: dict[str, list[str]] = field(default_factory=dict)  # address -> --dns
    # address -> alias -> records: `--link name:alias` on a user network is
    # a name only the linking container resolves (Docker's embedded DNS)
    links: dict[str, dict[str, Records]] = field(default_factory=dict)
    clients: dict[str, str] = field(default_factory=dict)  # address -> container id
    members: dict[str, str] = field(default_factory=dict)  # container id -> its address

    def lookup(self, name: str, client: str) -> Records | None:
        key = name.rstrip(".").lower()
        own = self.links.get(client)
        if own is not None and key in own:
            return own[key]
        return self.records.get(key)


class NameIndex:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tables: RecordCache[str, NetworkNames] = RecordCache()
        self._network_ids: RecordCache[str, dict[str, str]] = RecordCache()  # one entry, ""

    def changed(self) -> None:
        """Endpoints, sandboxes or networks changed: every table is rebuilt
        on use."""
        self._tables.clear()
        self._network_ids.clear()

    def table(self, network_id: str) -> NetworkNames:
        found = self._tables.get(network_id, self._build)
        return found if found is not None else NetworkNames()  # _build always answers

    def zone(self, network_id: str) -> Zone:
        def lookup(name: str, client: str) -> Records | None:
            table = self.table(network_id)
            found = table.lookup(name, client)
            if found is None and "." in name.rstrip("."):
                found = self._elsewhere(name, table.clients.get(client, ""))
            return found

        def upstreams(client: str) -> Sequence[str]:
            return self.table(network_id).upstreams.get(client, [])

        return Zone(lookup, upstreams)

    def sandbox_zone(self, container_id: str) -> Zone:
        """What the resolver answers one container at 127.0.0.11: the names
        of each user network it is on (as seen from its address there, so
        its links count), its --dns servers for the rest."""

        def joined() -> list[tuple[NetworkNames, str]]:
            ids = self._network_ids.get("", self._load_network_ids) or {}
            tables = (self.table(network_id) for network_id in ids.values())
            return [(t, t.members[container_id]) for t in tables if container_id in t.members]

        def lookup(name: str, _client: str) -> Records | None:
            for table, address in joined():
                found = table.lookup(name, address)
                if found is not None:
                    return found
            return self._elsewhere(name, container_id) if "." in name.rstrip(".") else None

        def upstreams(_client: str) -> Sequence[str]:
            for table, address in joined():
                return table.upstreams.get(address, [])
            return []

        return Zone(lookup, upstreams)

    def _elsewhere(self, name: str, container_id: str) -> Records | None:
        """What the asking container's other networks answer: a reverse
        lookup, or `<name>.<network>`."""
        if not container_id:
            return None
        key = name.rstrip(".").lower()
        ids = self._network_ids.get("", self._load_network_ids) or {}
        if key.endswith((".in-addr.arpa", ".ip6.arpa")):
            return self._reverse(key, container_id, list(ids.values()))
        return self._qualified(key, container_id, ids)

    def _reverse(self, key: str, container_id: str, network_ids: list[str]) -> Records | None:
        for network_id in network_ids:
            table = self.table(network_id)
            if container_id in table.members and key in table.records:
                return table.records[key]
        return None

    def _qualified(self, key: str, container_id: str, ids: dict[str, str]) -> Records | None:
        """The longest name first, as dockerd splits `a.b.c`."""
        labels = key.split(".")
        for cut in range(len(labels) - 1, 0, -1):
            network_id = ids.get(".".join(labels[cut:]))
            if network_id is None:
                continue
            table = self.table(network_id)
            found = table.records.get(".".join(labels[:cut]))
            if container_id in table.members and found is not None:
                return found
        return None

    def _load_network_ids(self, _: str) -> dict[str, str]:
        """User network name (as DNS compares it, lowercase) -> id; the
        predefined networks have no names of containers, as in Docker."""
        with Session(self.engine, expire_on_commit=False) as s:
            return {n.name.lower(): n.id for n in s.exec(select(NetworkRow)) if not n.predefined}

    def _build(self, network_id: str) -> NetworkNames:
        with Session(self.engine, expire_on_commit=False) as s:
            network = s.get(NetworkRow, network_id)
            eps = list(s.exec(select(EndpointRow).where(EndpointRow.network_id == network_id)))
            ids = {e.container_id for e in eps}
            sbs = {
                sb.container_id: sb for sb in s.exec(select(SandboxRow)) if sb.container_id in ids
            }
            linked = {
                a.container_id: a.link_targets
                for a in s.exec(select(AttachmentRow).where(AttachmentRow.network_id == network_id))
                if a.container_id in ids and a.links
            }
        v4: dict[str, list[str]] = {}
        v6: dict[str, list[str]] = {}
        out = NetworkNames()
        for ep in eps:
            sb = sbs.get(ep.container_id)
            names = [*ep.aliases, ep.container_id[:12]]
            out.members[ep.container_id] = ep.ipv4_address or ep.ipv6_address
            for address in (ep.ipv4_address, ep.ipv6_address):
                if address:
                    out.clients[address] = ep.container_id
            if sb is not None:
                names += [sb.container_name.lstrip("/"), sb.hostname]
                if network is not None:
                    _add_pointers(out, ep, f"{sb.container_name.lstrip('/')}.{network.name}")
                servers = list(json.loads(sb.dns_json))
                if servers:
                    for address in (ep.ipv4_address, ep.ipv6_address):
                        if address:
                            out.upstreams[address] = servers
            for name in filter(None, (n.lower() for n in names)):
                for table, address in ((v4, ep.ipv4_address), (v6, ep.ipv6_address)):
                    have = table.setdefault(name, [])
                    if address and address not in have:
                        have.append(address)
        for name in v4.keys() | v6.keys():
            out.records[name] = Records(tuple(v4.get(name, ())), tuple(v6.get(name, ())))
        for ep in eps:
            aliases: dict[str, Records] = {}
            for target, alias in linked.get(ep.container_id, []):
                found = out.records.get(target.lower())
                if found is not None:
                    aliases[alias.lower()] = found
            if aliases:
                for address in (ep.ipv4_address, ep.ipv6_address):
                    if address:
                        out.links[address] = aliases
        return out


def _add_pointers(out: NetworkNames, ep: EndpointRow, target: str) -> None:
    """PTR records of the endpoint's addresses: `<container>.<network>`, as
    Docker's embedded DNS answers a reverse lookup."""
    for address in (ep.ipv4_address, ep.ipv6_address):
        if address:
            out.records[ipaddress.ip_address(address).reverse_pointer] = Records(ptr=(target,))
