"""Container DNS: one resolver in the service (no process per container).
Each container asks it at 127.0.0.11, as Docker's embedded DNS: the
service binds a UDP and a TCP socket on that address inside the
container's namespace (a socket stays in the namespace it was made in), on
free ports, and a nat rule there sends queries to 127.0.0.11:53 to them
(port 53 stays free for a DNS server of the container's own). So the
resolver knows who asks by the socket a query arrives on and answers the
names of every user network that container is on. It also listens on
the gateway address of every user bridge network, answering for that
network (for namespaces whose resolv.conf names the gateway). Names are
container name, short id, hostname and aliases; every other query is
forwarded.

A and AAAA queries get answers of our own, and PTR queries of container
addresses (`<container>.<network>`); for a known name, other types (and
AAAA of a container without IPv6) get an empty NOERROR, as Docker's
embedded DNS answers. Other names go to the upstreams of the asking
container (its --dns servers), else to the host's. Queries to the gateway
are exempt from published-port DNAT (see nft.py), so a container that
publishes port 53 does not capture the resolver's traffic."""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from hangu_runtime import logging as hlog

from . import etcfiles, nft

log = hlog.get_logger("hangu.network.dns")

TTL = 600
QTYPE_A = 1
QTYPE_AAAA = 28
QTYPE_PTR = 12
IP_FREEBIND = 15
EMBEDDED = "127.0.0.11"  # the resolver's address inside each container


@dataclass(frozen=True)
class Records:
    """A known name's addresses on one network."""

    v4: tuple[str, ...] = ()
    v6: tuple[str, ...] = ()
    ptr: tuple[str, ...] = ()  # names, for an in-addr.arpa / ip6.arpa name

    def of_type(self, qtype: int) -> Sequence[str]:
        by_type = {QTYPE_A: self.v4, QTYPE_AAAA: self.v6, QTYPE_PTR: self.ptr}
        return by_type.get(qtype, ())


@dataclass(frozen=True)
class Zone:
    """What the resolver of one network needs: the names it answers to the
    asking container (its links are names only it sees), and that
    container's upstream servers (empty: the host's). Both by its address."""

    lookup: Callable[[str, str], Records | None]
    upstreams: Callable[[str], Sequence[str]]


def encode_name(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("idna") if label else b""
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def build_query(qid: int, name: str, qtype: int = QTYPE_A) -> bytes:
    return (
        struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
        + encode_name(name)
        + struct.pack("!HH", qtype, 1)
    )


def parse_question(packet: bytes) -> tuple[int, int, str, int, int] | None:
    """(id, flags, qname, qtype, end of question) of a one-question query."""
    if len(packet) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if qdcount != 1 or flags & 0x8000:
        return None
    labels, pos = [], 12
    while True:
        if pos >= len(packet):
            return None
        length = packet[pos]
        pos += 1
        if length == 0:
            break
        if length & 0xC0:
            return None
        labels.append(packet[pos : pos + length].decode("ascii", "replace"))
        pos += length
    if pos + 4 > len(packet):
        return None
    qtype, _ = struct.unpack("!HH", packet[pos : pos + 4])
    return qid, flags, ".".join(labels).lower(), qtype, pos + 4


def build_answer(
    packet: bytes, question_end: int, flags: int, qtype: int, addresses: Sequence[str]
) -> bytes:
    """Our answer: the records of the asked type (addresses for A or AAAA,
    names for PTR; callers pass those of that type), none for another type."""
    if qtype not in (QTYPE_A, QTYPE_AAAA, QTYPE_PTR):
        addresses = ()
    rd = flags & 0x0100
    header = struct.pack(
        "!HHHHHH", struct.unpack("!H", packet[:2])[0], 0x8480 | rd, 1, len(addresses), 0, 0
    )
    body = packet[12:question_end]
    for value in addresses:
        raw = _rdata(qtype, value)
        body += struct.pack("!HHHIH", 0xC00C, qtype, 1, TTL, len(raw)) + raw
    return header + body


def _rdata(qtype: int, value: str) -> bytes:
    if qtype == QTYPE_PTR:
        return encode_name(value)
    return socket.inet_pton(socket.AF_INET if qtype == QTYPE_A else socket.AF_INET6, value)


def parse_answer_addresses(packet: bytes) -> tuple[int, list[str]]:
    """(rcode, A and AAAA addresses) of a response: for tests and diagnostics."""
    rcode = struct.unpack("!H", packet[2:4])[0] & 0xF
    q = parse_question(packet[:2] + b"\x01\x00" + packet[4:])
    if q is None:
        return rcode, []
    ancount = struct.unpack("!H", packet[6:8])[0]
    pos, out = q[4], []
    for _ in range(ancount):
        if packet[pos] & 0xC0:
            pos += 2
        else:
            while packet[pos]:
                pos += packet[pos] + 1
            pos += 1
        rtype, _, _, rdlen = struct.unpack("!HHIH", packet[pos : pos + 10])
        pos += 10
        if rtype == QTYPE_A and rdlen == 4:
            out.append(socket.inet_ntoa(packet[pos : pos + 4]))
        elif rtype == QTYPE_AAAA and rdlen == 16:
            out.append(socket.inet_ntop(socket.AF_INET6, packet[pos : pos + 16]))
        pos += rdlen
    return rcode, out


class DnsServer:
    def __init__(
        self, upstream_conf: Path = Path("/etc/resolv.conf"), defaults: Sequence[str] = ()
    ) -> None:
        # The daemon's --dns servers, else the host's resolv.conf.
        self._defaults = list(defaults)
        self._sel = selectors.DefaultSelector()
        self._socks: dict[str, list[socket.socket]] = {}  # gateway ip -> udp, tcp
        self._lock = threading.Lock()
        self._forwarder = ThreadPoolExecutor(max_workers=8, thread_name_prefix="dns-fwd")
        self._upstream_conf = upstream_conf
        self._wake_r, self._wake_w = socket.socketpair()
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="dns", daemon=True)
        self._thread.start()

    def serve(self, gateway: str, zone: Zone) -> None:
        """Answer on gateway:53 (udp and tcp) for one network."""
        family = socket.AF_INET6 if ":" in gateway else socket.AF_INET
        with self._lock:
            if gateway in self._socks:
                return
            socks = []
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                sock = socket.socket(family, kind)
                sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    sock.bind((gateway, 53))
                    if kind == socket.SOCK_STREAM:
                        sock.listen(64)
                except OSError as err:
                    sock.close()
                    log.warning("dns_bind_failed", gateway=gateway, error=str(err))
                    continue
                sock.setblocking(False)
                socks.append(sock)
                self._sel.register(sock, selectors.EVENT_READ, (kind, zone))
            self._socks[gateway] = socks
        log.info("dns_serving", address=f"[{gateway}]:53" if ":" in gateway else f"{gateway}:53")

    def serve_inside(self, container_id: str, socks: list[socket.socket], zone: Zone) -> None:
        """Answer on sockets made inside a container's namespace
        (embedded_sockets()), for that container; replaces earlier ones."""
        self.stop_serving(container_id)
        with self._lock:
            for sock in socks:
                sock.setblocking(False)
                self._sel.register(sock, selectors.EVENT_READ, (sock.type, zone))
            self._socks[container_id] = socks

    def serves(self, key: str) -> bool:
        return key in self._socks

    def stop_serving(self, gateway: str) -> None:
        with self._lock:
            for sock in self._socks.pop(gateway, []):
                self._sel.unregister(sock)
                sock.close()

    def close(self) -> None:
        self._stop = True
        self._wake_w.send(b"x")
        self._thread.join(timeout=5)
        for gw in list(self._socks):
            self.stop_serving(gw)
        self._forwarder.shutdown(wait=False, cancel_futures=True)
        self._wake_r.close()
        self._wake_w.close()

    def _loop(self) -> None:
        while not self._stop:
            for key, _ in self._sel.select():
                if key.data is None:
                    self._wake_r.recv(64)
                    continue
                kind, zone = key.data
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    if kind == socket.SOCK_STREAM:
                        conn, _ = sock.accept()
                        self._forwarder.submit(self._serve_tcp, conn, zone)
                        continue
                    packet, client = sock.recvfrom(4096)
                except OSError as err:
                    if err.errno not in (errno.EAGAIN, errno.EBADF):
                        log.warning("dns_recv_failed", error=str(err))
                    continue
                try:
                    self._handle(sock, packet, client, zone)
                except Exception:
                    log.exception("dns_query_failed")

    def _serve_tcp(self, conn: socket.socket, zone: Zone) -> None:
        """One length-prefixed query per connection (clients retry over TCP
        when a UDP answer was truncated)."""
        with conn:
            conn.settimeout(5)
            try:
                client = conn.getpeername()[0]
                packet = _recv_framed(conn)
                q = parse_question(packet)
                if q is None:
                    return
                records = zone.lookup(q[2], client)
                if records is not None:
                    reply = build_answer(packet, q[4], q[1], q[3], records.of_type(q[3]))
                else:
                    reply = self._forward_tcp(packet, self._servers(zone, client))
                if reply:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except (OSError, struct.error):
                return

    def _forward_tcp(self, packet: bytes, servers: list[tuple[str, int]]) -> bytes:
        for server in servers:
            try:
                with socket.create_connection(server, timeout=2) as up:
                    up.sendall(struct.pack("!H", len(packet)) + packet)
                    return _recv_framed(up)
            except (OSError, struct.error):
                continue
        return b""

    def _handle(
        self, sock: socket.socket, packet: bytes, client: tuple[str, int], zone: Zone
    ) -> None:
        q = self.parse(packet)
        if q is None:
            return
        _, flags, name, qtype, end = q
        records = zone.lookup(name, client[0])
        if records is not None:
            sock.sendto(build_answer(packet, end, flags, qtype, records.of_type(qtype)), client)
        else:
            servers = self._servers(zone, client[0])
            self._forwarder.submit(self._forward, sock, packet, client, servers)

    parse = staticmethod(parse_question)

    def _servers(self, zone: Zone, client: str) -> list[tuple[str, int]]:
        asked = zone.upstreams(client)
        return [(ns, 53) for ns in asked] if asked else self.upstreams()

    def upstreams(self) -> list[tuple[str, int]]:
        """The daemon's --dns servers or the host's nameservers (the service
        runs in the host's namespace: loopback resolvers work here)."""
        servers = self._defaults or etcfiles.read_host_resolv_conf(self._upstream_conf).nameservers
        servers = servers or ["8.8.8.8"]
        return [(ns.split("%", 1)[0], 53) for ns in servers]

    def _forward(
        self,
        sock: socket.socket,
        packet: bytes,
        client: tuple[str, int],
        servers: list[tuple[str, int]],
    ) -> None:
        for server in servers:
            family = socket.AF_INET6 if ":" in server[0] else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as up:
                up.settimeout(2)
                try:
                    up.sendto(packet, server)
                    reply, _ = up.recvfrom(65535)
                except OSError:
                    continue
            with contextlib.suppress(OSError):
                sock.sendto(reply, client)
            return
        # No upstream answered: SERVFAIL at once rather than a client timeout.
        failed = packet[:2] + struct.pack("!H", 0x8182) + packet[4:6] + b"\0" * 6
        q = parse_question(packet)
        with contextlib.suppress(OSError):
            sock.sendto(failed + (packet[12 : q[4]] if q else b""), client)


def embedded_sockets() -> list[socket.socket]:
    """UDP and TCP on 127.0.0.11, on ports of the kernel's choosing, with
    queries to 127.0.0.11:53 redirected to them, in the calling thread's
    namespace (free-bind: its loopback need not be up yet)."""
    socks: list[socket.socket] = []
    try:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(socket.AF_INET, kind)
            socks.append(sock)
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind((EMBEDDED, 0))
            if kind == socket.SOCK_STREAM:
                sock.listen(64)
        nft.redirect_dns_here(EMBEDDED, socks[0].getsockname()[1], socks[1].getsockname()[1])
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    return socks


def _recv_framed(sock: socket.socket) -> bytes:
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise OSError("connection closed")
            buf += chunk
        return buf

    (length,) = struct.unpack("!H", exactly(2))
    return exactly(length)
