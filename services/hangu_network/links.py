"""Host-side netlink work (bridges, veth pairs, routes) through one
pyroute2 socket, plus the namespace-side set-up of an interface. No `ip`
execs: each step is one netlink request."""

from __future__ import annotations

import threading
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from hangu_runtime import logging as hlog

log = hlog.get_logger("hangu.network.links")

ENOENT, EEXIST, ENODEV = 2, 17, 19


def _sysctl(path: str, value: str) -> None:
    try:
        Path(path).write_text(value)
    except OSError as err:
        log.warning("sysctl_failed", path=path, error=str(err))


class HostLinks:
    """The host's links. One socket, serialised by a lock."""

    def __init__(self) -> None:
        self._ipr = IPRoute()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._ipr.close()

    def index(self, name: str) -> int | None:
        with self._lock:
            found = self._ipr.link_lookup(ifname=name)
        return found[0] if found else None

    def ensure_bridge(
        self, name: str, gateway: IPv4Address | None, prefix: int, mtu: int = 1500
    ) -> None:
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
            idx = found[0]
            if gateway is not None:
                have = {a.get_attr("IFA_ADDRESS") for a in self._ipr.get_addr(index=idx, family=2)}
                if str(gateway) not in have:
                    self._ipr.addr("add", index=idx, address=str(gateway), prefixlen=prefix)
            self._ipr.link("set", index=idx, state="up")
        # Published ports reached from 127.0.0.1 are DNATed onto the bridge;
        # the kernel drops loopback sources on other links without this.
        _sysctl(f"/proc/sys/net/ipv4/conf/{name}/route_localnet", "1")

    def delete(self, name: str) -> None:
        """Delete a link by name; a missing link is fine."""
        with self._lock:
            found = self._ipr.link_lookup(ifname=name)
            if not found:
                return
            try:
                self._ipr.link("del", index=found[0])
            except NetlinkError as err:
                if err.code not in (ENOENT, ENODEV):
                    raise

    def add_veth(
        self, host_name: str, bridge: str, netns_fd: int, peer_name: str, mac: str, mtu: int = 1500
    ) -> None:
        """A veth pair whose peer is born inside the namespace with its final
        name and MAC, so no move or rename step is needed."""
        with self._lock:
            br = self._ipr.link_lookup(ifname=bridge)
            if not br:
                raise RuntimeError(f"bridge {bridge} does not exist")
            # One request: the host end is enslaved and up as it is born.
            self._ipr.link(
                "add",
                ifname=host_name,
                kind="veth",
                mtu=mtu,
                master=br[0],
                state="up",
                peer={"ifname": peer_name, "address": mac, "mtu": mtu, "net_ns_fd": netns_fd},
            )

    def host_networks(self) -> list[IPv4Network]:
        """Destinations of every IPv4 route (all tables) and the subnets of
        every host address: a new bridge subnet must overlap none of them."""
        nets: list[IPv4Network] = []
        with self._lock:
            routes = self._ipr.get_routes(family=2)
            addrs = self._ipr.get_addr(family=2)
        for r in routes:
            dst = r.get_attr("RTA_DST")
            if dst and r["dst_len"] > 0:
                nets.append(IPv4Network(f"{dst}/{r['dst_len']}", strict=False))
        for a in addrs:
            addr = a.get_attr("IFA_ADDRESS")
            if addr and a["prefixlen"] > 0 and not addr.startswith("127."):
                nets.append(IPv4Network(f"{addr}/{a['prefixlen']}", strict=False))
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
    ns: IPRoute,
    ifname: str,
    address: IPv4Address,
    prefix: int,
    gateway: IPv4Address | None,
    default_route: bool,
) -> None:
    """Address, up and default route of an interface already in the namespace."""
    idx = ns.link_lookup(ifname=ifname)[0]
    ns.addr("add", index=idx, address=str(address), prefixlen=prefix)
    ns.link("set", index=idx, state="up")
    if default_route and gateway is not None:
        ns.route("add", dst="0.0.0.0/0", gateway=str(gateway), oif=idx)


def loopback_up(ns: IPRoute) -> None:
    ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
