"""Sandboxes: one container's network namespace, its endpoints (veth pairs
on bridges), its published ports and its hosts/hostname/resolv.conf.

CreateSandbox is on the `docker run` hot path: one namespace (no fork), one
netlink request per step, one nftables transaction for the ports, and
timings of each phase in the log."""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import shutil
import socket
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from sqlmodel import Session, select

from hangu_runtime import logging as hlog
from hangu_runtime.cache import RecordCache
from hangu_runtime.config import Settings
from hangu_runtime.db import Writes
from hangu_runtime.errors import Conflict, Forbidden, InvalidArgument, NotFound
from hangu_runtime.ids import new_id
from hangu_runtime.timing import Phases

from . import dns, etcfiles, ipam, links, netns, sysctls
from .attachments import Attachments, AttachmentView, EndpointSpec, is_unresolved
from .bridgeopts import host_binding, icc_enabled, mtu
from .models import (
    AllocationRow,
    AttachmentRow,
    EndpointRow,
    MemberRow,
    NetworkRow,
    SandboxRow,
    plain_endpoint,
)
from .networks import Networks
from .nft import PortRule
from .ports import PortRequest, Publisher
from .reaper import VethReaper
from .rtnl import Rtnl

log = hlog.get_logger("hangu.network.sandboxes")


@dataclass
class SandboxSpec:
    container_id: str
    container_name: str = ""
    hostname: str = ""
    domainname: str = ""
    # Only for a container created before attachments were recorded: its
    # first start records them from these.
    network_mode: str = ""
    endpoints: list[EndpointSpec] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    ports: list[PortRequest] = field(default_factory=list)


@dataclass
class LiveAttachment:
    attachment: AttachmentRow
    network: NetworkRow | None
    endpoint: EndpointRow | None  # None unless the sandbox runs


@dataclass
class SandboxView:
    row: SandboxRow
    endpoints: list[tuple[EndpointRow, NetworkRow]]
    ports: list[PortRule]

    @property
    def hosts_path(self) -> str:
        return str(Path(self.row.files_dir) / "hosts")

    @property
    def hostname_path(self) -> str:
        return str(Path(self.row.files_dir) / "hostname")

    @property
    def resolv_conf_path(self) -> str:
        return str(Path(self.row.files_dir) / "resolv.conf")


@dataclass
class Connected:
    new: LiveAttachment
    view: AttachmentView
    items: list[LiveAttachment]


def _live(
    attached: AttachmentView, endpoints: list[tuple[EndpointRow, NetworkRow]]
) -> tuple[AttachmentView, list[LiveAttachment]]:
    """Each attachment with its live endpoint (None while not running)."""
    live = {e.network_id: e for e, _ in endpoints}
    return attached, [LiveAttachment(a, n, live.get(a.network_id)) for a, n in attached.rows]


def _bound(requests: list[PortRequest], net: NetworkRow) -> list[PortRequest]:
    """Ports published without a host address bind to the network's
    host_binding_ipv4 when it names one (dockerd's option)."""
    binding = host_binding(net)
    if not binding:
        return requests
    return [replace(r, host_ip=binding) if not r.host_ip else r for r in requests]


def _gateway_network(nets: list[tuple[NetworkRow, int]]) -> NetworkRow | None:
    """Which network gives a container its default routes, of (network,
    gw priority) pairs: of those that are not internal (no way out, Docker 25
    and later), the one of highest priority (API 1.48), then the one whose
    name sorts first, as dockerd picks it, wherever it is in connect order."""
    eligible = [(n, p) for n, p in nets if not n.internal]
    best = min(eligible, key=lambda np: (-np[1], np[0].name), default=None)
    return best[0] if best is not None else None


def _routed(
    endpoints: list[tuple[EndpointRow, NetworkRow]],
) -> tuple[EndpointRow, NetworkRow] | None:
    """The endpoint that holds the default routes (_gateway_network)."""
    chosen = _gateway_network([(n, e.gw_priority) for e, n in endpoints])
    return next(((e, n) for e, n in endpoints if n is chosen), None)


# A sandbox as stored: its row and its endpoints by interface name.
Stored = tuple[SandboxRow, tuple[EndpointRow, ...]]


def _ifname(ep: EndpointRow) -> str:
    return ep.ifname


# As current dockerd, an interface without IPv6 addresses has IPv6 off (no
# link-local address either). Set as the namespace's default when it is made
# (no extra entry into it per interface); an interface with IPv6 addresses
# turns it on for itself. A kernel booted without IPv6 has no such sysctls.
_HOST_IPV6 = Path("/proc/sys/net/ipv6").is_dir()
_IPV6_OFF_BY_DEFAULT = [("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")] if _HOST_IPV6 else []


def _ipv6_on(ifname: str) -> tuple[str, str]:
    return f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6", "0"


ERR_CONFIG_ONLY = "cannot create endpoint on configuration-only network"  # libnetwork's


def veth_name(endpoint_id: str) -> str:
    return "veth" + hashlib.sha256(endpoint_id.encode()).hexdigest()[:7]


class Sandboxes:
    def __init__(self, settings: Settings, networks: Networks, attachments: Attachments) -> None:
        self.settings = settings
        self.networks = networks
        self.attachments = attachments
        self.engine = networks.engine
        self.links = networks.links
        self.nft = networks.nft
        self.ports = Publisher(self.nft)
        self.netns_dir = settings.run / "netns"
        # The host's own namespace, bound while a host-mode container runs:
        # its SandboxKey, as dockerd's netns/default.
        self.host_key = self.netns_dir / "default"
        self._host_key_guard = threading.Lock()
        self.files_root = settings.data_dir("network") / "sandboxes"
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.reaper = VethReaper(self.links, self._release)
        # Sandboxes as stored, written through and read from memory (as
        # attachments are: connect and disconnect read them on every call).
        self._records: RecordCache[str, Stored] = RecordCache()

    def _lock(self, container_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(container_id, threading.Lock())

    # -- queries ---------------------------------------------------------
    def get(self, container_id: str) -> SandboxView:
        row, eps = self._stored(container_id)
        nets = self.networks.by_id()
        return SandboxView(
            row,
            [(e, nets[e.network_id]) for e in eps if e.network_id in nets],
            [PortRule(**p) for p in row.ports],
        )

    def _stored(self, container_id: str) -> Stored:
        found = self._records.get(container_id, self._load)
        if found is None:  # _load raises NotFound first
            raise NotFound(f"sandbox for container {container_id} not found")
        return found

    def _load(self, container_id: str) -> Stored:
        with Session(self.engine, expire_on_commit=False) as s:
            row = s.get(SandboxRow, container_id)
            if row is None:
                raise NotFound(f"sandbox for container {container_id} not found")
            eps = tuple(
                s.exec(
                    select(EndpointRow)
                    .where(EndpointRow.container_id == container_id)
                    .order_by(EndpointRow.ifname)
                )
            )
        return row, eps

    def _keep(self, container_id: str, stored: Stored | None) -> None:
        """After a write: the sandbox as it now is (None: gone)."""
        if stored is not None:
            stored = (stored[0], tuple(sorted(stored[1], key=_ifname)))
        self._records.keep(container_id, stored)

    def all_ids(self) -> list[str]:
        with Session(self.engine, expire_on_commit=False) as s:
            return [r.container_id for r in s.exec(select(SandboxRow))]

    # -- create ----------------------------------------------------------
    def create(self, spec: SandboxSpec) -> SandboxView:
        if not spec.container_id:
            raise InvalidArgument("container id must not be empty")
        with self._lock(spec.container_id):
            try:
                existing = self.get(spec.container_id)
            except NotFound:
                return self._create(spec)
            if self._alive(existing):
                log.info("sandbox_exists", container_id=spec.container_id)
                return existing
        # Its namespace is gone (a reboot): start again from nothing.
        self.remove(spec.container_id)
        with self._lock(spec.container_id):
            return self._create(spec)

    @staticmethod
    def _alive(view: SandboxView) -> bool:
        path = view.row.netns_path
        return not path or netns.is_bound(Path(path))

    def _create(self, spec: SandboxSpec) -> SandboxView:
        attached = self.attachments.find(spec.container_id)
        if attached is not None:
            return self._create_from(spec, attached)
        # Created before attachments were recorded: this start records
        # them, and a failed start forgets them again.
        attached = self.attachments.attach(
            spec.container_id, spec.container_name, spec.network_mode, spec.endpoints
        )
        try:
            return self._create_from(spec, attached)
        except BaseException:
            self.attachments.detach(spec.container_id)
            raise

    def _create_from(self, spec: SandboxSpec, attached: AttachmentView) -> SandboxView:
        t0 = time.perf_counter()
        kind = attached.kind
        mode = attached.member.network_mode
        if kind == "container":
            return self._shared(spec, mode)
        nets: list[tuple[NetworkRow, AttachmentRow]] = []
        for att, net in attached.rows:
            if net is None and is_unresolved(att.network_id):
                att, net = self.attachments.resolve(spec.container_id, att)
            if net is None:
                raise NotFound(f"network {att.network_name} not found")
            if net.config_only:
                raise Forbidden(ERR_CONFIG_ONLY)
            if net.driver == "bridge":
                nets.append((net, att))
        linked = self._link_hosts(nets)
        extra = [*etcfiles.parse_extra_hosts(spec.extra_hosts, self._host_gateway()), *linked]
        files = self.files_root / spec.container_id
        files.mkdir(parents=True, exist_ok=True)
        hostname = spec.hostname or spec.container_id[:12]
        row = SandboxRow(
            container_id=spec.container_id,
            container_name=spec.container_name,
            hostname=hostname,
            domainname=spec.domainname,
            network_mode=mode,
            files_dir=str(files),
            extra_hosts_json=json.dumps(spec.extra_hosts),
            link_hosts_json=json.dumps(linked),
            dns_json=json.dumps(spec.dns),
            dns_search_json=json.dumps(spec.dns_search),
            dns_options_json=json.dumps(spec.dns_options),
        )
        if kind == "host":
            self._write_host_files(files)
            with self._host_key_guard:
                netns.bind_home(self.host_key)
                view = self._save(Writes(), row, [], [])
            self._plain_events("connect", attached)
            return view
        path = self.netns_dir / spec.container_id[:12]
        if path.exists():
            # Left by a crash between bind mount and saving: nobody owns it.
            netns.remove(path)
        made: list[tuple[EndpointRow, NetworkRow]] = []
        rules: list[PortRule] = []
        ns: Rtnl | None = None
        # One transaction for the sandbox, its endpoints and their addresses.
        writes = Writes()
        try:
            ns = netns.create(path, _IPV6_OFF_BY_DEFAULT)
            row.netns_path = str(path)
            links.loopback_up(ns)
            self._serve_dns_inside(spec.container_id, path)
            t_ns = time.perf_counter()
            routed = _gateway_network([(net, att.gw_priority) for net, att in nets])
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                for i, (net, att) in enumerate(nets):
                    made.append(
                        (
                            self._add_endpoint(
                                spec.container_id,
                                ns,
                                fd,
                                path,
                                net,
                                att,
                                f"eth{i}",
                                default_route=net is routed,
                                into=writes,
                            ),
                            net,
                        )
                    )
            finally:
                os.close(fd)
            t_links = time.perf_counter()
            if spec.ports and made:
                first = made[0][0]
                rules = self.ports.publish(
                    _bound(spec.ports, made[0][1]),
                    first.ipv4_address,
                    first.ipv6_address,
                    (spec.container_name, first.id),
                )
            self._write_files(files, made, hostname, spec, extra)
            view = self._save(writes, row, made, rules)
            self._plain_events("connect", attached)
            for _, net in made:
                self._event("connect", net, spec.container_id)
            log.info(
                "sandbox_created",
                container_id=spec.container_id,
                mode=kind,
                netns_ms=round((t_ns - t0) * 1000, 2),
                links_ms=round((t_links - t_ns) * 1000, 2),
                total_ms=round((time.perf_counter() - t0) * 1000, 2),
            )
            return view
        except BaseException:
            self._stop_dns(spec.container_id)
            self.ports.unpublish(rules)
            for ep, _ in made:
                self._drop_endpoint(ep)
            netns.remove(path)
            shutil.rmtree(files, ignore_errors=True)
            raise
        finally:
            if ns is not None:
                ns.close()

    def _add_endpoint(
        self,
        container_id: str,
        ns: Rtnl,
        ns_fd: int,
        netns_path: Path,
        net: NetworkRow,
        req: AttachmentRow,
        ifname: str,
        default_route: bool,
        into: Writes,
    ) -> EndpointRow:
        """A veth pair with its addresses and routes; the endpoint and its
        addresses go into `into`, for the caller to commit."""
        ep_id = new_id()
        addr = self.networks.allocate(net, ep_id, req.ipv4_address, into=into)
        subnet = ipaddress.ip_network(net.subnet)
        gw = ipaddress.ip_address(net.gateway) if net.gateway else None
        addresses = [(addr, subnet.prefixlen, gw)]
        ep = EndpointRow(
            id=ep_id,
            container_id=container_id,
            network_id=net.id,
            ifname=ifname,
            veth=veth_name(ep_id),
            ipv4_address=str(addr),
            prefix_len=subnet.prefixlen,
            gateway=net.gateway,
            mac_address=req.mac_address or ipam.mac_for(addr),
            aliases_json=json.dumps(req.aliases),
            gw_priority=req.gw_priority,
        )
        try:
            if net.subnet6:
                addr6 = self.networks.allocate(net, ep_id, req.ipv6_address, version=6, into=into)
                subnet6 = ipaddress.ip_network(net.subnet6)
                ep.ipv6_address, ep.ipv6_prefix_len = str(addr6), subnet6.prefixlen
                ep.ipv6_gateway = net.gateway6
                gw6 = ipaddress.ip_address(net.gateway6) if net.gateway6 else None
                addresses.append((addr6, subnet6.prefixlen, gw6))
            # --link-local-ip: on the interface too, /16 or /64 as dockerd's.
            for text in req.link_local_ips:
                local = ipaddress.ip_address(text)
                addresses.append((local, 16 if local.version == 4 else 64, None))
            peer_index = self.links.add_veth(
                ep.veth,
                net.bridge,
                ns_fd,
                ifname,
                ep.mac_address,
                mtu(net),
                isolated=not icc_enabled(net),
            )
            # Before it is up (IPv6 is off by default in the namespace).
            ipv6 = any(address.version == 6 for address, _, _ in addresses)
            self._set_sysctls(netns_path, req, ifname, ipv6=ipv6)
            ep.ifindex = links.configure_inside(ns, ifname, addresses, default_route, peer_index)
        except BaseException:
            self.links.delete(ep.veth)
            self._release(ep)
            raise
        into.insert(ep)
        return ep

    @staticmethod
    def _set_sysctls(netns_path: Path, req: AttachmentRow, ifname: str, ipv6: bool) -> None:
        """The endpoint's per-interface sysctls: IPv6 on for an interface
        with IPv6 addresses (off is the namespace's default), then what its
        driver option asks."""
        values = [_ipv6_on(ifname)] if ipv6 and _HOST_IPV6 else []
        values += sysctls.paths(req.driver_opts, ifname)
        try:
            netns.write_sysctls(netns_path, values)
        except OSError as err:
            raise InvalidArgument(f"failed to set sysctls of {ifname}: {err}") from None

    def _release(self, ep: EndpointRow) -> None:
        for address in (ep.ipv4_address, ep.ipv6_address):
            if address:
                self.networks.release(ep.network_id, address, owner=ep.id)
        self.networks.released(ep.id)

    def _drop_endpoint(self, ep: EndpointRow) -> None:
        try:
            self.links.delete(ep.veth)
        finally:
            self._release(ep)

    def _shared(self, spec: SandboxSpec, mode: str) -> SandboxView:
        """`container:<id>`: the other container's namespace and files. The
        container service resolved the name at create; one that did not
        exist then is looked up here, by id, id prefix or name."""
        other_id = mode.split(":", 1)[1]
        running = set(self.all_ids())
        matches = [c for c in running if c == other_id or c.startswith(other_id)]
        if not matches:
            known = self.attachments.matching(other_id)
            if not known:
                raise NotFound(f"No such container: {other_id}")
            matches = [c for c in known if c in running]
        if len(matches) != 1:
            raise Conflict(f"cannot join network of a non running container: {other_id}")
        other = self.get(matches[0])
        row = SandboxRow(
            container_id=spec.container_id,
            container_name=spec.container_name,
            hostname=other.row.hostname,
            network_mode=mode,
            netns_path=other.row.netns_path,
            files_dir=other.row.files_dir,
        )
        with Session(self.engine, expire_on_commit=False) as s:
            s.add(row)
            s.commit()
            s.refresh(row)
        self._keep(spec.container_id, (row, ()))
        return SandboxView(row, [], [])

    def _save(
        self,
        writes: Writes,
        row: SandboxRow,
        made: list[tuple[EndpointRow, NetworkRow]],
        rules: list[PortRule],
    ) -> SandboxView:
        """Commit the sandbox with what `writes` holds of it (endpoints,
        addresses)."""
        row.ports_json = json.dumps([asdict(r) for r in rules])
        writes.insert(row)
        writes.commit(self.engine)
        self._keep(row.container_id, (row, tuple(ep for ep, _ in made)))
        self.networks.names.changed()
        return SandboxView(row, made, rules)

    # -- files -----------------------------------------------------------
    def _write_files(
        self,
        files: Path,
        endpoints: list[tuple[EndpointRow, NetworkRow]],
        hostname: str,
        spec: SandboxSpec,
        extra: list[tuple[str, str]],
        in_place: bool = False,
    ) -> None:
        write = etcfiles.rewrite_in_place if in_place else etcfiles.write_atomic
        # A hosts line per address of every endpoint, in connect order (a
        # hot-plug may reuse a lower ethN than endpoints plugged before it).
        ips = [
            a
            for ep, _ in sorted(endpoints, key=lambda e: e[0].created)
            for a in (ep.ipv4_address, ep.ipv6_address)
            if a
        ]
        write(files / "hostname", hostname + "\n")
        write(files / "hosts", etcfiles.render_hosts(ips, hostname, spec.domainname, extra))
        # On user networks hangu's resolver answers container names and
        # forwards the rest, to the --dns servers when given (as Docker's
        # embedded DNS does); elsewhere --dns goes in as it is. It is at
        # 127.0.0.11 as Docker's (then at the IPv6 gateway, for DNS over
        # IPv6), or on the gateways where 127.0.0.11 could not be bound.
        resolvers = next(
            (found for _, n in endpoints if (found := self.networks.dns_addresses(n))), []
        )
        server = self.networks.dns
        if resolvers and server is not None and server.serves(spec.container_id):
            resolvers = [dns.EMBEDDED, *(r for r in resolvers if ":" in r)]
        write(
            files / "resolv.conf",
            etcfiles.render_resolv_conf(
                etcfiles.read_host_resolv_conf(),
                resolvers or spec.dns or self.settings.dns,
                spec.dns_search or self.settings.dns_search,
                spec.dns_options or self.settings.dns_options,
                internal=bool(resolvers),
            ),
        )

    def _link_hosts(self, nets: list[tuple[NetworkRow, AttachmentRow]]) -> list[tuple[str, str]]:
        """Legacy `--link name[:alias]` on the default bridge: a hosts line
        per running linked container, `ip  alias hostname [name]` as dockerd
        writes it, resolved at start. (On user networks a link is a DNS
        alias, names.py.)"""
        out = []
        for net, att in nets:
            if not net.predefined:
                continue
            for name, alias in att.link_targets:
                target = self._running_member(net.id, name)
                if target is None:
                    continue
                ep, sandbox = target
                names = [alias, sandbox.hostname]
                if alias != sandbox.container_name.lstrip("/"):
                    names.append(sandbox.container_name.lstrip("/"))
                out.append((ep.ipv4_address, " ".join(dict.fromkeys(n for n in names if n))))
        return out

    def _running_member(self, network_id: str, name: str) -> tuple[EndpointRow, SandboxRow] | None:
        """The endpoint on that network of a running container, by name or id."""
        with Session(self.engine, expire_on_commit=False) as s:
            for sandbox in s.exec(select(SandboxRow)):
                cid, cname = sandbox.container_id, sandbox.container_name.lstrip("/")
                if name not in (cname, cid) and not (len(name) >= 12 and cid.startswith(name)):
                    continue
                ep = s.exec(
                    select(EndpointRow)
                    .where(EndpointRow.container_id == cid)
                    .where(EndpointRow.network_id == network_id)
                ).first()
                if ep is not None:
                    return ep, sandbox
        return None

    def _host_gateway(self) -> list[str]:
        """What `host-gateway` in --add-host means: the default bridge's gateway."""
        gateway = self.networks.default().gateway
        return [gateway] if gateway else []

    def _write_host_files(self, files: Path) -> None:
        etcfiles.write_atomic(files / "hostname", socket.gethostname() + "\n")
        for name in ("hosts", "resolv.conf"):
            try:
                text = Path("/etc", name).read_text()
            except OSError:
                text = ""
            etcfiles.write_atomic(files / name, text)

    # -- remove ----------------------------------------------------------
    def remove(self, container_id: str) -> None:
        """Everything the sandbox holds; removing a missing one is fine."""
        with self._lock(container_id):
            try:
                view = self.get(container_id)
            except NotFound:
                return
            self.ports.unpublish(view.ports)
            self._stop_dns(container_id)
            # Deleting a veth waits for the kernel: done off the exit path,
            # in batches (reaper.py).
            self._reap([ep for ep, _ in view.endpoints])
            shared = view.row.network_mode.startswith("container:")
            if view.row.netns_path and not shared:
                netns.remove(Path(view.row.netns_path))
            if not shared:
                shutil.rmtree(view.row.files_dir, ignore_errors=True)
            row, stored = self._stored(container_id)
            writes = Writes()
            writes.delete(*stored, row)
            with self._host_key_guard:
                writes.commit(self.engine)
                if row.network_mode == "host" and not self._host_mode_ids():
                    netns.remove(self.host_key)
            self._keep(container_id, None)
            self.networks.names.changed()
        with self._locks_guard:
            self._locks.pop(container_id, None)
        attached = self.attachments.find(container_id)
        if attached is not None:
            self._plain_events("disconnect", attached)
        for _, net in view.endpoints:
            self._event("disconnect", net, container_id)
        log.info("sandbox_removed", container_id=container_id)

    def _plain_events(self, action: str, attached: AttachmentView) -> None:
        """connect/disconnect on `host` and `none`, which have no endpoint
        rows, at start and stop as dockerd sends them."""
        for att, net in attached.rows:
            if net is not None and net.plain:
                self._event(action, net, att.container_id)

    def _host_mode_ids(self) -> list[str]:
        with Session(self.engine, expire_on_commit=False) as s:
            return list(
                s.exec(select(SandboxRow.container_id).where(SandboxRow.network_mode == "host"))
            )

    def key(self, row: SandboxRow) -> str:
        """The SandboxKey inspect shows: the namespace's file (the host's
        for host mode; none of its own for container:<x>, as dockerd)."""
        if row.network_mode == "host":
            return str(self.host_key)
        if row.network_mode.startswith("container:"):
            return ""
        return row.netns_path

    def _event(self, action: str, net: NetworkRow, container_id: str) -> None:
        self.networks.events.emit(
            action, net.id, container=container_id, name=net.name, type=net.driver
        )

    # -- connect / disconnect ---------------------------------------------
    def connect(self, container_id: str, req: EndpointSpec) -> Connected:
        """`network connect`: recorded in any state; while the sandbox runs,
        hot-plugged as the next ethN, /etc files following. One transaction
        records the attachment with its endpoint and addresses, so a failed
        hot-plug leaves no record. Answers with every attachment after it."""
        phases = Phases("connect", container_id=container_id)
        with self._lock(container_id):
            writes = Writes()
            att, net, attached = self.attachments.add(container_id, req, into=writes)
            try:
                view = self._find(container_id)
                if net.config_only and view is not None and self._alive(view):
                    raise Forbidden(ERR_CONFIG_ONLY)
                if (
                    view is None
                    or not self._alive(view)
                    or not view.row.netns_path
                    or net.driver != "bridge"
                ):
                    writes.commit(self.engine)
                    before = view.endpoints if view is not None else []
                    return Connected(LiveAttachment(att, net, None), *_live(attached, before))
                ep = self._hot_plug(writes, view, net, att, phases)
            except BaseException:
                self.attachments.reload(container_id)
                raise
            after = [*view.endpoints, (ep, net)]
            self._refresh_files(SandboxView(view.row, after, view.ports))
            phases.mark("files")
        self._event("connect", net, container_id)
        phases.done(network=net.name)
        return Connected(LiveAttachment(att, net, ep), *_live(attached, after))

    def _find(self, container_id: str) -> SandboxView | None:
        try:
            return self.get(container_id)
        except NotFound:
            return None

    def _hot_plug(
        self,
        writes: Writes,
        view: SandboxView,
        net: NetworkRow,
        att: AttachmentRow,
        phases: Phases,
    ) -> EndpointRow:
        """The endpoint, committed with what `writes` holds (the attachment)."""
        used = {e.ifname for e, _ in view.endpoints}
        ifname = next(f"eth{i}" for i in range(4096) if f"eth{i}" not in used)
        ns = netns.open_in(Path(view.row.netns_path))
        fd = os.open(view.row.netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ep = self._add_endpoint(
                view.row.container_id,
                ns,
                fd,
                Path(view.row.netns_path),
                net,
                att,
                ifname,
                # Its routes replace those of the network that held them
                # when it sorts first (one request with its addresses).
                default_route=_gateway_network(
                    [*((n, e.gw_priority) for e, n in view.endpoints), (net, att.gw_priority)]
                )
                is net,
                into=writes,
            )
        finally:
            os.close(fd)
            ns.close()
        phases.mark("plug")
        try:
            writes.commit(self.engine)
        except BaseException:
            self._drop_endpoint(ep)
            raise
        phases.mark("commit")
        row, eps = self._stored(view.row.container_id)
        self._keep(row.container_id, (row, (*eps, ep)))
        self.networks.names.changed()
        return ep

    def disconnect(
        self, container_id: str, network: str
    ) -> tuple[AttachmentView, list[LiveAttachment]]:
        """`network disconnect`: the record goes; a live interface too (one
        transaction for both records). Answers with the attachments left."""
        phases = Phases("disconnect", container_id=container_id)
        with self._lock(container_id):
            writes = Writes()
            att, net, attached = self.attachments.remove(container_id, network, into=writes)
            try:
                view = self._find(container_id)
                if view is None:
                    writes.commit(self.engine)
                    # dockerd tells of it in any state (a connect only
                    # once the container runs)
                    if net is not None:
                        self._event("disconnect", net, container_id)
                    return _live(attached, [])
                eps = [e for e, _ in view.endpoints if e.network_id == att.network_id]
                self._take_down(view, eps)
                phases.mark("unplug")
                writes.delete(*eps)
                writes.commit(self.engine)
                phases.mark("commit")
            except BaseException:
                self.attachments.reload(container_id)
                raise
            left = [(e, n) for e, n in view.endpoints if e not in eps]
            routed = _routed(view.endpoints)
            if eps:
                self._unplugged(view, eps)
                after = SandboxView(view.row, left, view.ports)
                if routed is not None and routed[0] in eps:
                    self._move_default_routes(after)
                self._refresh_files(after)
                phases.mark("files")
        if net is not None:
            self._event("disconnect", net, container_id)
            phases.done(network=net.name)
        return _live(attached, left)

    def _unplug(self, view: SandboxView, eps: list[EndpointRow]) -> None:
        """Hot-unplug: inside the namespace each interface goes down and
        takes a name of its own at once (~1 ms, its ethN is free again);
        deleting the veth waits for the kernel (tens of ms) and is done off
        the request path, as on remove. Until then the address stays
        allocated; a crash in between is repaired by reap_orphans()."""
        self._take_down(view, eps)
        writes = Writes()
        writes.delete(*eps)
        writes.commit(self.engine)
        self._unplugged(view, eps)

    def _take_down(self, view: SandboxView, eps: list[EndpointRow]) -> None:
        if not eps or not view.row.netns_path:
            return
        ns = netns.open_in(Path(view.row.netns_path))
        try:
            for ep in eps:
                links.retire_inside(ns, ep.ifname, "gone" + ep.veth[4:], ep.ifindex)
        finally:
            ns.close()

    def _unplugged(self, view: SandboxView, eps: list[EndpointRow]) -> None:
        """After the endpoints' records went: the sandbox as it now is, and
        each veth deleted (its addresses freed) off the request path."""
        gone = {ep.id for ep in eps}
        row, stored = self._stored(view.row.container_id)
        self._keep(row.container_id, (row, tuple(e for e in stored if e.id not in gone)))
        self.networks.names.changed()
        self._reap(eps)

    def _reap(self, eps: list[EndpointRow]) -> None:
        """Veths deleted off the request path; their addresses are freed
        after that, or taken over at once when asked for again."""
        for ep in eps:
            self.networks.releasing(ep.id)
        self.reaper.retire(eps)

    def _move_default_routes(self, view: SandboxView) -> None:
        """The default routes to the endpoint that holds them now
        (_gateway_network), after the one that held them went."""
        routed = _routed(view.endpoints)
        if routed is None or not view.row.netns_path:
            return
        ep, _ = routed
        ns = netns.open_in(Path(view.row.netns_path))
        try:
            links.replace_default_routes(ns, ep.ifname, ep.gateway, ep.ipv6_gateway)
        finally:
            ns.close()

    def rename(self, container_id: str, name: str) -> None:
        """`docker rename`: peers resolve the new name at once, the old one
        no more, and `network inspect` lists the new one."""
        if not name:
            raise InvalidArgument("container name must not be empty")
        with self._lock(container_id):
            self.attachments.rename(container_id, name)
            try:
                row, eps = self._stored(container_id)
            except NotFound:
                row = None
            if row is not None:
                renamed = SandboxRow.model_validate(row.model_dump())
                renamed.container_name = name
                with Session(self.engine, expire_on_commit=False) as s:
                    s.merge(renamed)
                    s.commit()
                self._keep(container_id, (renamed, eps))
        self.networks.names.changed()
        log.info("container_renamed", container_id=container_id, name=name)

    def detach(self, container_id: str) -> None:
        """The container is removed: its sandbox (if one is left) and every
        attachment go."""
        self.remove(container_id)
        self.attachments.detach(container_id)

    def attached(self, container_id: str) -> tuple[AttachmentView, list[LiveAttachment]]:
        """Every attachment with its live endpoint, if the sandbox runs."""
        view = self.attachments.get(container_id)
        try:
            sandbox = self.get(container_id)
        except NotFound:
            return view, [LiveAttachment(a, n, None) for a, n in view.rows]
        live = {e.network_id: e for e, _ in sandbox.endpoints}
        for a, n in view.rows:
            if n is not None and n.plain:
                live[a.network_id] = plain_endpoint(sandbox.row, a.network_id)
        return view, [LiveAttachment(a, n, live.get(a.network_id)) for a, n in view.rows]

    def _refresh_files(self, view: SandboxView) -> None:
        """hosts and resolv.conf after the networks changed, written in place:
        they are bind-mounted files, a rename would not reach the container."""
        row = view.row
        if row.network_mode.startswith("container:") or not row.netns_path:
            return
        spec = SandboxSpec(
            container_id=row.container_id,
            hostname=row.hostname,
            domainname=row.domainname,
            dns=list(json.loads(row.dns_json)),
            dns_search=list(json.loads(row.dns_search_json)),
            dns_options=list(json.loads(row.dns_options_json)),
            extra_hosts=list(json.loads(row.extra_hosts_json)),
        )
        self._write_files(
            Path(row.files_dir),
            view.endpoints,
            row.hostname,
            spec,
            [
                *etcfiles.parse_extra_hosts(spec.extra_hosts, self._host_gateway()),
                *[(ip, names) for ip, names in json.loads(row.link_hosts_json)],
            ],
            in_place=True,
        )

    def purge(self) -> None:
        for cid in self.all_ids():
            try:
                self.remove(cid)
            except Exception:
                log.exception("purge_sandbox_failed", container_id=cid)
        netns.remove(self.host_key)
        self.drain()

    def drain(self) -> None:
        """Wait until every veth removal handed to the reaper is done."""
        self.reaper.drain()

    def reap_orphans(self) -> None:
        """Sandboxes whose namespace is gone (the host rebooted) are removed;
        addresses whose endpoint is gone (the service stopped between
        RemoveSandbox and the veth deletion): delete the veth, free them."""
        self.links.delete_retired()  # marked for deletion before a crash
        for cid in self.all_ids():
            try:
                view = self.get(cid)
            except NotFound:
                continue
            if not self._alive(view):
                log.info("stale_sandbox_removed", container_id=cid)
                self.remove(cid)
        self.drain()
        self._reap_unattached()
        with Session(self.engine, expire_on_commit=False) as s:
            live = {e.id for e in s.exec(select(EndpointRow))}
            orphans = [a for a in s.exec(select(AllocationRow)) if a.owner not in live]
        for a in orphans:
            self.links.delete(veth_name(a.owner))
            self.networks.release(a.network_id, a.address)
            log.info("orphan_address_freed", address=a.address, network_id=a.network_id)
        self._reap_unrecorded(live)

    def _reap_unattached(self) -> None:
        """Endpoints whose attachment is gone (a crash inside a disconnect,
        after the record went): unplugged, as the disconnect meant. (A
        sandbox from before attachments were recorded has no member row:
        its endpoints are its attachments, and stay.)"""
        with Session(self.engine, expire_on_commit=False) as s:
            attached = {(a.container_id, a.network_id) for a in s.exec(select(AttachmentRow))}
            members = {m.container_id for m in s.exec(select(MemberRow))}
            stray = [
                e
                for e in s.exec(select(EndpointRow))
                if e.container_id in members and (e.container_id, e.network_id) not in attached
            ]
        for cid in sorted({e.container_id for e in stray}):
            try:
                view = self.get(cid)
            except NotFound:
                continue
            eps = [e for e in stray if e.container_id == cid]
            log.info("unattached_endpoint_removed", container_id=cid, count=len(eps))
            self._unplug(view, eps)
            self._refresh_files(self.get(cid))
        self.drain()

    def _reap_unrecorded(self, live: set[str]) -> None:
        """What a crash in the middle of a create or hot-plug left before
        anything was recorded: veths on hangu's bridges that belong to no
        endpoint, and namespace bind mounts that belong to no sandbox."""
        wanted = {veth_name(e) for e in live}
        for net in self.networks.all():
            if net.driver != "bridge" or not net.bridge:
                continue
            ports = Path("/sys/class/net", net.bridge, "brif")
            for port in sorted(ports.iterdir()) if ports.is_dir() else []:
                if port.name.startswith("veth") and port.name not in wanted:
                    self.links.delete(port.name)
                    log.info("orphan_veth_removed", veth=port.name, bridge=net.bridge)
        with Session(self.engine, expire_on_commit=False) as s:
            bound = {sb.netns_path for sb in s.exec(select(SandboxRow)) if sb.netns_path}
        if self._host_mode_ids():
            bound.add(str(self.host_key))
        for path in sorted(self.netns_dir.iterdir()) if self.netns_dir.is_dir() else []:
            if str(path) not in bound:
                netns.remove(path)
                log.info("orphan_netns_removed", path=str(path))

    def _serve_dns_inside(self, container_id: str, path: Path) -> None:
        """The resolver's 127.0.0.11 inside the container's namespace. Where
        that fails, resolv.conf names the gateway's instead."""
        server = self.networks.dns
        if server is None:
            return
        try:
            socks = netns.run_in(path, dns.embedded_sockets)
        except OSError as err:
            log.warning("embedded_dns_failed", container_id=container_id, error=str(err))
            return
        server.serve_inside(container_id, socks, self.networks.names.sandbox_zone(container_id))

    def _stop_dns(self, container_id: str) -> None:
        if self.networks.dns is not None:
            self.networks.dns.stop_serving(container_id)

    def restore_resolvers(self) -> None:
        """127.0.0.11 in every live namespace, after a restart (the sockets
        went with the process that held them)."""
        for cid in self.all_ids():
            with contextlib.suppress(NotFound):
                row = self.get(cid).row
                if row.netns_path and not row.network_mode.startswith("container:"):
                    self._serve_dns_inside(cid, Path(row.netns_path))

    def restore_ports(self) -> None:
        """The published ports of every live sandbox, after a restart."""
        rules: list[PortRule] = []
        for cid in self.all_ids():
            with contextlib.suppress(NotFound):
                rules += self.get(cid).ports
        self.ports.restore(rules)

    def close(self) -> None:
        self.ports.close()
        self.reaper.close()
