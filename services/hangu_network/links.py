"""Host-side netlink work (bridges, veth pairs, routes) through one
pyroute2 socket, plus the namespace-side set-up of an interface. No `ip`
execs: each step is one netlink request."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from hangu_runtime import logging as hlog

from .rtnl import IFA_F_NODAD, Rtnl

log = hlog.get_logger("hangu.network.links")

ENOENT, EEXIST, ENODEV = 2, 17, 19
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _sysctl(path: str, value: str) -> None:
    try:
        Path(path).write_text(value)
    except OSError as err:
        log.warning("sysctl_failed", path=path, error=str(err))


class HostLinks:
    """The host's links. One socket, serialised by a lock.

    `retired_group` is the link group of veths waiting to be deleted
    (reaper.py), one per hangu instance (stacks side by side on one host
    each have their own), so a batch deletion takes only its own."""

    def __init__(self, retired_group: int) -> None:
        # Group 0 is every link's default: deleting it would take them all.
        if retired_group <= 0:
            raise ValueError("the retired veths' link group must not be 0")
        self.retired_group = retired_group
        self._ipr = IPRoute()
        self._lock = threading.Lock()
        # bridge name -> ifindex: looked up once, not per veth. Dropped when
        # hangu deletes the link; a stale one (someone else deleted the
        # bridge) fails the add with ENODEV and is looked up again.
        self._bridges: dict[str, int] = {}
        self._deleter = Rtnl()
        self._delete_lock = threading.Lock()
        self._rtnl = Rtnl()  # the veth pairs of every start and connect

    def close(self) -> None:
        self._ipr.close()
        self._rtnl.close()
        self._deleter.close()

    def index(self, name: str) -> int | None:
        with self._lock:
            found = self._ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def ensure_bridge(
        self, name: str, gateways: Sequence[tuple[Address, int]], mtu: int = 1500
    ) -> None:
        """The bridge, up, with each gateway address (IPv4, IPv6) on it."""
        with self._lock:
            found = self._ipr.link_lookup(ifname=name)
            if not found:
                try:
                    self._ipr.link("add", ifname=name, kind="bridge", mtu=mtu)
                except NetlinkError as err:
                    if err.code != EEXIST:
                        raise
                found = self._ipr.link_lookup(ifname=name)
                log.info("bridge_created", bridge=name)
            idx = self._bridges[name] = found[0]
            if any(gw.version == 6 for gw, _ in gateways):
                # A host booted with IPv6 off by default would refuse the address.
                _sysctl(f"/proc/sys/net/ipv6/conf/{name}/disable_ipv6", "0")
            have = {a.get_attr("IFA_ADDRESS") for a in self._ipr.get_addr(index=idx)}
            for gw, prefix in gateways:
                if str(gw) not in have:
                    # nodad: the gateway answers at once, not after DAD's second.
                    flags = IFA_F_NODAD if gw.version == 6 else 0
                    self._ipr.addr("add", index=idx, address=str(gw), prefixlen=prefix, flags=flags)
            self._ipr.link("set", index=idx, state="up")
        # Published ports reached from 127.0.0.1 are DNATed onto the bridge;
        # the kernel drops loopback sources on other links without this.
        _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")

    def _bridge_index(self, bridge: str) -> int:
        found = self._bridges.get(bridge)
        if found is None:
            indexes = self._ipr.link_lookup(ifname=bridge)
            if not indexes:
                raise RuntimeError(f"bridge {bridge} does not exist")
            found = self._bridges[bridge] = indexes[0]
        return found

    def delete(self, name: str) -> None:
        """Delete a link by name; a missing link is fine."""
        with self._lock:
            self._bridges.pop(name, None)
        # Deleting waits for the kernel (tens of ms, mostly off the request
        # path): on a socket of its own, so creates do not queue behind it.
        # A plain socket: pyroute2's runs Python for the whole wait, which
        # holds the GIL against the next request's thread.
        with self._delete_lock:
            try:
                self._deleter.delete(name)
            except NetlinkError as err:
                if err.code not in (ENOENT, ENODEV):
                    raise

    def retire(self, name: str) -> None:
        """Mark a veth for the next batch deletion; a missing one is fine."""
        with self._lock:
            try:
                self._rtnl.set_group(name, self.retired_group)
            except NetlinkError as err:
                if err.code not in (ENOENT, ENODEV):
                    raise

    def delete_retired(self) -> None:
        """Every veth retire() marked, in one request."""
        with self._delete_lock:
            try:
                self._deleter.delete_group(self.retired_group)
            except NetlinkError as err:
                if err.code not in (ENOENT, ENODEV):
                    raise

    def add_veth(
        self,
        host_name: str,
        bridge: str,
        netns_fd: int,
        peer_name: str,
        mac: str,
        mtu: int = 1500,
        isolated: bool = False,
    ) -> int | None:
        """A veth pair whose peer is born inside the namespace with its final
        name and MAC, so no move or rename step is needed. An isolated port
        (enable_icc=false) forwards to the bridge itself only, never to
        another isolated port: done by the bridge, whether br_netfilter is
        loaded or not. Returns the peer's ifindex in the namespace, when the
        kernel tells it (Rtnl.add_veth)."""
        with self._lock:
            for attempt in (1, 2):
                master = self._bridge_index(bridge)
                try:
                    # One request: the host end is enslaved and up as it is born.
                    peer_index = self._rtnl.add_veth(
                        host_name, master, mtu, peer_name, mac, netns_fd
                    )
                    break
                except NetlinkError as err:
                    self._bridges.pop(bridge, None)
                    if err.code != ENODEV or attempt == 2:
                        raise
            if isolated:
                self._ipr.brport(
                    "set", index=self._ipr.link_lookup(ifname=host_name)[0], isolated=1
                )
            return peer_index

    def host_networks(
        self, version: int = 4
    ) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """Destinations of every route of that family (all tables) and the
        subnets of every host address: a new bridge subnet must overlap none
        of them. Loopback and link-local ones do not count."""
        family = socket.AF_INET if version == 4 else socket.AF_INET6
        nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        with self._lock:
            routes = self._ipr.get_routes(family=family)
            addrs = self._ipr.get_addr(family=family)
        found = [(r.get_attr("RTA_DST"), r["dst_len"]) for r in routes]
        found += [(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in addrs]
        for addr, prefix in found:
            if not addr or prefix <= 0:
                continue
            net = ipaddress.ip_network(f"{addr}/{prefix}", strict=False)
            if not (net.is_loopback or net.is_link_local or net.is_multicast):
                nets.append(net)
        return nets

    def bridges(self) -> list[str]:
        with self._lock:
            links = self._ipr.get_links()
        out = []
        for link in links:
            info: Any = link.get_attr("IFLA_LINKINFO")
            if info is not None and info.get_attr("IFLA_INFO_KIND") == "bridge":
                out.append(link.get_attr("IFLA_IFNAME"))
        return out


def configure_inside(
    ns: Rtnl,
    ifname: str,
    addresses: Sequence[tuple[Address, int, Address | None]],
    default_route: bool,
    index: int | None = None,
) -> int:
    """Addresses (with their gateways), up and default routes of an
    interface already in the namespace (its ifindex there, when known).
    IPv6 addresses skip DAD, as Docker's do: a tentative address cannot be
    used for a second. Returns the ifindex."""
    idx = index or ns.index(ifname)
    if idx is None:
        raise RuntimeError(f"{ifname} is not in the namespace")
    gateways = [str(gw) for _, _, gw in addresses if gw is not None] if default_route else []
    ns.configure(idx, [(addr, prefix) for addr, prefix, _ in addresses], gateways)
    return idx


def retire_inside(ns: Rtnl, ifname: str, new_name: str, index: int = 0) -> None:
    """Take an interface out of use before its veth is deleted: down (the
    kernel drops its routes) and renamed, so its ethN can be plugged again
    at once. Missing is fine."""
    idx = index or ns.index(ifname)
    if idx is None:
        return
    try:
        ns.retire(idx, new_name)
    except NetlinkError as err:
        if err.code != ENODEV:
            raise


def replace_default_routes(ns: Rtnl, ifname: str, gateway: str, gateway6: str) -> None:
    """Point the namespace's default routes (IPv4, IPv6) at this interface."""
    idx = ns.index(ifname)
    if idx is None:
        return
    for gw in (gateway, gateway6):
        if gw:
            ns.default_route(idx, gw, replace=True)


LOOPBACK_IFINDEX = 1  # fixed by the kernel in every namespace


def loopback_up(ns: Rtnl) -> None:
    ns.set_up(LOOPBACK_IFINDEX)
