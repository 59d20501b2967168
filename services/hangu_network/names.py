"""The names the resolver answers on each user network, held in memory.

A query must not touch the database: with 300 containers on a network a
scan per query costs milliseconds. Each network's table (container name,
hostname, short id, network aliases → its IPv4 and IPv6 addresses, and each
address → the --dns servers of its container) is built from the database on
the first query after a change, and every change of endpoints or sandboxes
drops the tables (`changed()`), so an answer never outlives its endpoint."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from hangu_runtime.cache import RecordCache

from .dns import Records, Zone
from .models import AttachmentRow, EndpointRow, SandboxRow


@dataclass
class NetworkNames:
    records: dict[str, Records] = field(default_factory=dict)
    upstreams: dict[str, list[str]] = field(default_factory=dict)  # address -> --dns
    # address -> alias -> records: `--link name:alias` on a user network is
    # a name only the linking container resolves (Docker's embedded DNS)
    links: dict[str, dict[str, Records]] = field(default_factory=dict)

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

    def changed(self) -> None:
        """Endpoints or sandboxes changed: every table is rebuilt on use."""
        self._tables.clear()

    def table(self, network_id: str) -> NetworkNames:
        found = self._tables.get(network_id, self._build)
        return found if found is not None else NetworkNames()  # _build always answers

    def zone(self, network_id: str) -> Zone:
        def lookup(name: str, client: str) -> Records | None:
            return self.table(network_id).lookup(name, client)

        def upstreams(client: str) -> Sequence[str]:
            return self.table(network_id).upstreams.get(client, [])

        return Zone(lookup, upstreams)

    def _build(self, network_id: str) -> NetworkNames:
        with Session(self.engine, expire_on_commit=False) as s:
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
            if sb is not None:
                names += [sb.container_name.lstrip("/"), sb.hostname]
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
