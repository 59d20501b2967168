"""hangu's one nftables table (family inet), driven through libnftables
in-process (one transaction per change, no exec); `nft -f -` is the
fallback when the library cannot be loaded.

The rules never change after the table is made: networks and published
ports are elements of sets and maps, so adding or removing one is a single
`add element`/`delete element` and never touches a rule another change made.

- set `bridges`   (ifname): hangu's bridges — forward accept, masquerade exemption
- sets `subnets`, `subnets6` (intervals): bridge subnets — masquerade when leaving elsewhere
- sets `dns_servers`, `dns_servers6`: gateways where hangu's resolver listens — never DNATed
- set `same_bridge` (ifname . ifname), `internal` (ifname): network isolation
- map `ports_any` proto . port → container ip . port (host_ip 0.0.0.0)
- map `ports_ip`  host ip . proto . port → container ip . port
- maps `ports6_any`, `ports6_ip`: the same for IPv6 host addresses of
  containers that have an IPv6 address (the others are proxied, proxy.py)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import subprocess
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hangu_runtime import logging as hlog
from hangu_runtime.errors import Internal

log = hlog.get_logger("hangu.network.nft")


@dataclass(frozen=True)
class PortRule:
    host_ip: str  # "0.0.0.0" / "::" for every local address of that family
    protocol: str  # tcp, udp, sctp
    host_port: int
    container_ip: str
    container_port: int
    container_ip6: str = ""  # IPv6 host address: DNAT to it if set, else proxied

    @property
    def v6(self) -> bool:
        return ":" in self.host_ip

    @property
    def kernel_path(self) -> bool:
        """Forwarded by a DNAT map element (else only by the proxy)."""
        return not self.v6 or bool(self.container_ip6)

    @property
    def any_address(self) -> bool:
        return self.host_ip in ("", "0.0.0.0", "::")

    def key(self) -> str:
        k = f"{self.protocol} . {self.host_port}"
        return k if self.any_address else f"{self.host_ip} . {k}"

    def element(self) -> str:
        target = self.container_ip6 if self.v6 else self.container_ip
        return f"{self.key()} : {target} . {self.container_port}"

    def map_name(self) -> str:
        family = "ports6" if self.v6 else "ports"
        return f"{family}_any" if self.any_address else f"{family}_ip"


@functools.cache
def _library() -> ctypes.CDLL:
    """libnftables, loaded once: finding it forks `ldconfig -p`, which costs
    more than a whole transaction."""
    name = ctypes.util.find_library("nftables") or "libnftables.so.1"
    lib = ctypes.CDLL(name)
    lib.nft_ctx_new.restype = ctypes.c_void_p
    lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
    for fn in ("nft_ctx_buffer_output", "nft_ctx_buffer_error", "nft_ctx_free"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
    for fn in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
        getattr(lib, fn).argtypes = [ctypes.c_void_p]
        getattr(lib, fn).restype = ctypes.c_char_p
    lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    return lib


class _Lib:
    """One libnftables context: it talks to the network namespace of the
    thread that made it."""

    def __init__(self) -> None:
        self.lib = _library()
        self.ctx = self.lib.nft_ctx_new(0)
        self.lib.nft_ctx_buffer_output(self.ctx)
        self.lib.nft_ctx_buffer_error(self.ctx)

    def run(self, script: str) -> tuple[int, str, str]:
        rc = self.lib.nft_run_cmd_from_buffer(self.ctx, script.encode())
        out = (self.lib.nft_ctx_get_output_buffer(self.ctx) or b"").decode()
        err = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode()
        return rc, out, err

    def close(self) -> None:
        # its netlink socket would keep a container's namespace alive
        self.lib.nft_ctx_free(self.ctx)


def redirect_dns_here(address: str, udp_port: int, tcp_port: int) -> None:
    """In the calling thread's namespace: queries to `address`:53 go to
    these ports of it (Docker's embedded DNS rule: the resolver holds no
    port 53 a container's own DNS server may want). Replaces an earlier
    redirect. Raises OSError without libnftables."""
    t = "ip hangu_dns"
    script = (
        f"add table {t}\nflush table {t}\n"
        f"add chain {t} output {{ type nat hook output priority -100; policy accept; }}\n"
        f"add rule {t} output ip daddr {address} udp dport 53 dnat to {address}:{udp_port}\n"
        f"add rule {t} output ip daddr {address} tcp dport 53 dnat to {address}:{tcp_port}\n"
    )
    lib = _Lib()
    try:
        rc, _, err = lib.run(script)
    finally:
        lib.close()
    if rc != 0:
        raise OSError(f"nftables: {err.strip() or 'failed'}")


class Nft:
    def __init__(self, table: str) -> None:
        self.table = table
        self._lock = threading.Lock()
        self._lib: _Lib | None
        try:
            self._lib = _Lib()
        except OSError as err:
            log.warning("libnftables_unavailable", error=str(err))
            self._lib = None

    def run(self, script: str, check: bool = True) -> tuple[int, str, str]:
        with self._lock:
            if self._lib is not None:
                rc, out, err = self._lib.run(script)
            else:
                proc = subprocess.run(
                    ["nft", "-f", "-"],
                    input=script,
                    text=True,
                    capture_output=True,
                    check=False,
                    timeout=30,
                )
                rc, out, err = proc.returncode, proc.stdout, proc.stderr
        if check and rc != 0:
            raise Internal(f"nftables: {err.strip() or 'failed'}")
        return rc, out, err

    def exists(self) -> bool:
        return self.run(f"list table inet {self.table}", check=False)[0] == 0

    def ensure_table(self) -> None:
        """Create the table if missing and (re)write its chains, keeping the
        set and map elements: restarts keep published ports and networks."""
        t = f"inet {self.table}"
        # Queries to hangu's resolver on a gateway are never published-port traffic.
        # 127.0.0.1 is forwarded for the host itself (route_localnet on the
        # bridges), never for packets that came from elsewhere. ::1 cannot
        # leave the loopback device at all: the proxy serves it.
        dnat = (
            "ip daddr @dns_servers meta l4proto { tcp, udp } th dport 53 return\n"
            "ip6 daddr @dns_servers6 meta l4proto { tcp, udp } th dport 53 return\n"
            "fib daddr type local dnat ip to meta l4proto . th dport map @ports_any\n"
            "dnat ip to ip daddr . meta l4proto . th dport map @ports_ip\n"
            "ip6 daddr ::1 return\n"
            "fib daddr type local dnat ip6 to meta l4proto . th dport map @ports6_any\n"
            "dnat ip6 to ip6 daddr . meta l4proto . th dport map @ports6_ip\n"
        )
        from_outside = 'iifname != "lo" ip daddr 127.0.0.0/8 return\n'
        chains = {
            "prerouting": (
                "type nat hook prerouting priority dstnat; policy accept;",
                from_outside + dnat,
            ),
            "output": ("type nat hook output priority -100; policy accept;", dnat),
            # route_localnet lets a bridge route 127/8: a container must not
            # reach the host's loopback services through it.
            "localnet": (
                "type filter hook prerouting priority raw; policy accept;",
                "iifname @bridges ip daddr 127.0.0.0/8 drop\n",
            ),
            "postrouting": (
                "type nat hook postrouting priority srcnat; policy accept;",
                (
                    "ip saddr @subnets oifname != @bridges masquerade\n"
                    "ip6 saddr @subnets6 oifname != @bridges masquerade\n"
                    "ip saddr 127.0.0.0/8 oifname @bridges masquerade\n"
                    # a container reaching a published port of another on
                    # the same bridge must see replies come back the same way
                    "ct status dnat ip saddr @subnets oifname @bridges masquerade\n"
                    "ct status dnat ip6 saddr @subnets6 oifname @bridges masquerade\n"
                ),
            ),
            # Within a bridge: accept. Between two hangu networks, or out of
            # an internal one: drop (Docker's network isolation). Otherwise accept.
            "forward": (
                "type filter hook forward priority filter; policy accept;",
                (
                    "iifname . oifname @same_bridge accept\n"
                    "iifname @bridges oifname @bridges drop\n"
                    "iifname @internal drop\noifname @internal drop\n"
                    "iifname @bridges accept\noifname @bridges accept\n"
                ),
            ),
        }
        lines = [
            f"add table {t}",
            f"add set {t} bridges {{ type ifname; }}",
            f"add set {t} subnets {{ type ipv4_addr; flags interval; }}",
            f"add set {t} subnets6 {{ type ipv6_addr; flags interval; }}",
            f"add set {t} dns_servers {{ type ipv4_addr; }}",
            f"add set {t} dns_servers6 {{ type ipv6_addr; }}",
            f"add set {t} same_bridge {{ type ifname . ifname; }}",
            f"add set {t} internal {{ type ifname; }}",
            (
                f"add map {t} ports_any {{ type inet_proto . inet_service : "
                f"ipv4_addr . inet_service; }}"
            ),
            (
                f"add map {t} ports_ip {{ type ipv4_addr . inet_proto . inet_service : "
                f"ipv4_addr . inet_service; }}"
            ),
            (
                f"add map {t} ports6_any {{ type inet_proto . inet_service : "
                f"ipv6_addr . inet_service; }}"
            ),
            (
                f"add map {t} ports6_ip {{ type ipv6_addr . inet_proto . inet_service : "
                f"ipv6_addr . inet_service; }}"
            ),
        ]
        for name, (head, rules) in chains.items():
            lines.append(f"add chain {t} {name} {{ {head} }}")
            lines.append(f"flush chain {t} {name}")
            lines += [f"add rule {t} {name} {r}" for r in rules.strip().splitlines()]
        self.run("\n".join(lines) + "\n")

    def _elements(self, verb: str, set_name: str, elements: Iterable[str]) -> str:
        items = list(elements)
        if not items:
            return ""
        return f"{verb} element inet {self.table} {set_name} {{ {', '.join(items)} }}\n"

    def _absent(self, set_name: str, elements: Iterable[str]) -> str:
        """Deletes elements whether or not they are there: `add` of a present
        element is a no-op, and deleting a missing one would fail the whole
        transaction (nftables 1.0.6 has no `destroy`)."""
        items = list(elements)
        return self._elements("add", set_name, items) + self._elements("delete", set_name, items)

    @staticmethod
    def _network_elements(
        bridge: str, subnets: Sequence[str], dns_servers: Sequence[str]
    ) -> list[tuple[str, str]]:
        """(set, element) of everything a network may have in the table."""
        out = [
            ("bridges", f'"{bridge}"'),
            ("same_bridge", f'"{bridge}" . "{bridge}"'),
            ("internal", f'"{bridge}"'),
        ]
        out += [("subnets6" if ":" in n else "subnets", n) for n in subnets]
        out += [("dns_servers6" if ":" in a else "dns_servers", a) for a in dns_servers]
        return out

    def _network_absent(self, bridge: str, subnets: Sequence[str], dns: Sequence[str]) -> str:
        return "".join(
            self._absent(name, [element])
            for name, element in self._network_elements(bridge, subnets, dns)
        )

    def add_network(
        self,
        bridge: str,
        subnets: Sequence[str],
        dns_servers: Sequence[str] = (),
        internal: bool = False,
        icc: bool = True,
    ) -> None:
        """One transaction: whatever a previous network of that bridge left,
        then this network's elements. `subnets` are the masqueraded ones.
        Without icc, bridged traffic that br_netfilter hands to the forward
        hook is dropped too."""
        wanted = [
            (name, element)
            for name, element in self._network_elements(bridge, subnets, dns_servers)
            if (name != "same_bridge" or icc) and (name != "internal" or internal)
        ]
        self.run(
            self._network_absent(bridge, subnets, dns_servers)
            + "".join(self._elements("add", name, [element]) for name, element in wanted)
        )

    def remove_network(
        self, bridge: str, subnets: Sequence[str], dns_servers: Sequence[str] = ()
    ) -> None:
        if self.run(self._network_absent(bridge, subnets, dns_servers), check=False)[0] != 0:
            self._delete_each(self._network_elements(bridge, subnets, dns_servers))

    def _delete_each(self, elements: Iterable[tuple[str, str]]) -> None:
        """The slow path when a batch failed (an element that differs from
        what we expected, say): one transaction per element, so one failure
        cannot keep the others."""
        for set_name, element in elements:
            self.run(self._elements("delete", set_name, [element]), check=False)

    def add_ports(self, rules: Iterable[PortRule]) -> None:
        script = "".join(self._elements("add", r.map_name(), [r.element()]) for r in rules)
        if script:
            self.run(script)

    def remove_ports(self, rules: Iterable[PortRule]) -> None:
        rules = list(rules)
        script = "".join(self._absent(r.map_name(), [r.element()]) for r in rules)
        if script and self.run(script, check=False)[0] != 0:
            self._delete_each((r.map_name(), r.key()) for r in rules)

    def delete_table(self) -> None:
        self.run(f"delete table inet {self.table}", check=False)
