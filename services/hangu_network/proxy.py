"""The one in-service proxy, for what the kernel cannot forward: IPv6 host
addresses of published ports (`::1` always — IPv6 has no route_localnet —
and every IPv6 address when the container has no IPv6 address to DNAT to).

One thread, one selector, for every published port and connection: no
process and no thread per port. TCP is relayed both ways with a bounded
buffer per direction (a slow reader stalls its writer, never memory);
UDP keeps one upstream socket per client address, closed when idle.
IPv4 never comes here: the kernel forwards it (nftables DNAT).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hangu_runtime import logging as hlog

from .nft import PortRule

log = hlog.get_logger("hangu.network.proxy")

CHUNK = 256 * 1024
UDP_IDLE_SECONDS = 60.0


@dataclass
class _Pipe:
    """One direction of a TCP relay: bytes read from src wait in buf for dst."""

    src: socket.socket
    dst: socket.socket
    buf: bytearray = field(default_factory=bytearray)
    eof: bool = False


@dataclass
class _Conn:
    listener: int  # fd of the listener it came from
    client: socket.socket
    upstream: socket.socket
    pipes: tuple[_Pipe, _Pipe]


@dataclass
class _UdpPeer:
    listener: socket.socket
    client: tuple[str, int]
    upstream: socket.socket
    last: float


def _target(rule: PortRule) -> tuple[int, tuple[str, int]]:
    if rule.container_ip6:
        return socket.AF_INET6, (rule.container_ip6, rule.container_port)
    return socket.AF_INET, (rule.container_ip, rule.container_port)


class Proxy:
    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._lock = threading.Lock()
        self._todo: list[tuple[Callable[[], None], threading.Event]] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._rules: dict[int, tuple[socket.socket, PortRule]] = {}  # listener fd
        self._conns: dict[int, _Conn] = {}  # fd of either side
        self._udp: dict[tuple[int, tuple[str, int]], _UdpPeer] = {}
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="port-proxy", daemon=True)
        self._thread.start()

    # -- control (any thread) -------------------------------------------------
    def serve(self, rule: PortRule, sock: socket.socket | None) -> None:
        if sock is not None:
            self._call(lambda: self._add_listener(rule, sock))

    def stop(self, rule: PortRule) -> None:
        def drop() -> None:
            for fd, (_, r) in list(self._rules.items()):
                if r == rule:
                    self._drop_listener(fd)

        self._call(drop)

    def close(self) -> None:
        def stop_all() -> None:
            for fd in list(self._rules):
                self._drop_listener(fd)
            self._closed = True

        self._call(stop_all)
        self._thread.join(timeout=5)
        self._wake_r.close()
        self._wake_w.close()

    def _call(self, fn: Callable[[], None]) -> None:
        if self._closed:
            return
        done = threading.Event()
        with self._lock:
            self._todo.append((fn, done))
        self._wake_w.send(b"x")
        done.wait(timeout=10)

    # -- the loop (proxy thread) ----------------------------------------------
    def _loop(self) -> None:
        while not self._closed:
            for key, mask in self._sel.select(timeout=5.0):
                kind, obj = key.data
                try:
                    self._dispatch(kind, obj, key.fileobj, mask)  # type: ignore[arg-type]
                except OSError as err:
                    log.debug("proxy_io_error", error=str(err))
                    self._close_conn_of(key.fd)
                except Exception:
                    # Every published IPv6 port depends on this one thread:
                    # a bug in one event must not end it.
                    log.exception("proxy_event_failed", kind=kind)
                    self._close_conn_of(key.fd)
            self._expire_udp()
        self._sel.close()

    def _dispatch(self, kind: str, obj: object, sock: socket.socket, mask: int) -> None:
        if kind == "wake":
            with contextlib.suppress(BlockingIOError):
                sock.recv(4096)
            with self._lock:
                todo, self._todo = self._todo, []
            for fn, done in todo:
                try:
                    fn()
                finally:
                    done.set()
        elif kind == "accept":
            self._accept(sock)
        elif kind == "udp":
            self._udp_in(sock)
        elif kind == "udp-up":
            self._udp_back(obj)  # type: ignore[arg-type]
        elif kind == "tcp":
            self._pump(obj, sock, mask)  # type: ignore[arg-type]

    def _add_listener(self, rule: PortRule, sock: socket.socket) -> None:
        fd = sock.fileno()
        self._rules[fd] = (sock, rule)
        kind = "udp" if rule.protocol == "udp" else "accept"
        self._sel.register(sock, selectors.EVENT_READ, (kind, None))

    def _drop_listener(self, fd: int) -> None:
        sock, _ = self._rules.pop(fd)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)
        for conn in {id(c): c for c in self._conns.values() if c.listener == fd}.values():
            self._close_conn(conn)
        for key, peer in list(self._udp.items()):
            if key[0] == fd:
                self._drop_udp(key, peer)

    # -- TCP --------------------------------------------------------------------
    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except BlockingIOError:
            return
        family, target = _target(self._rules[listener.fileno()][1])
        upstream = socket.socket(family, socket.SOCK_STREAM)
        upstream.setblocking(False)
        client.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            upstream.connect(target)
        pipes = (_Pipe(client, upstream), _Pipe(upstream, client))
        conn = _Conn(listener.fileno(), client, upstream, pipes)
        self._conns[client.fileno()] = conn
        self._conns[upstream.fileno()] = conn
        self._sel.register(client, selectors.EVENT_READ, ("tcp", conn))
        # Writable once connected: then reads start on it too.
        self._sel.register(upstream, selectors.EVENT_READ | selectors.EVENT_WRITE, ("tcp", conn))

    def _pump(self, conn: _Conn, sock: socket.socket, mask: int) -> None:
        if sock is conn.upstream and mask & selectors.EVENT_WRITE:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._close_conn(conn)
                return
        for pipe in conn.pipes:
            if pipe.src is sock and mask & selectors.EVENT_READ and not pipe.eof:
                data = sock.recv(CHUNK - len(pipe.buf))
                if data:
                    pipe.buf += data
                else:
                    pipe.eof = True
            if pipe.dst is sock and mask & selectors.EVENT_WRITE and pipe.buf:
                sent = sock.send(pipe.buf)
                del pipe.buf[:sent]
            if pipe.eof and not pipe.buf:
                with contextlib.suppress(OSError):
                    pipe.dst.shutdown(socket.SHUT_WR)
        if all(p.eof and not p.buf for p in conn.pipes):
            self._close_conn(conn)
            return
        # Try to flush at once what was just read (saves a loop turn).
        for pipe in conn.pipes:
            if pipe.buf:
                with contextlib.suppress(BlockingIOError):
                    del pipe.buf[: pipe.dst.send(pipe.buf)]
        self._reregister(conn)

    def _reregister(self, conn: _Conn) -> None:
        for sock in (conn.client, conn.upstream):
            mask = 0
            for pipe in conn.pipes:
                if pipe.src is sock and not pipe.eof and len(pipe.buf) < CHUNK:
                    mask |= selectors.EVENT_READ
                if pipe.dst is sock and pipe.buf:
                    mask |= selectors.EVENT_WRITE
            registered = sock.fileno() in self._sel.get_map()
            if mask and registered:
                self._sel.modify(sock, mask, ("tcp", conn))
            elif mask:
                self._sel.register(sock, mask, ("tcp", conn))
            elif registered:
                self._sel.unregister(sock)

    def _close_conn_of(self, fd: int) -> None:
        conn = self._conns.get(fd)
        if conn is not None:
            self._close_conn(conn)

    def _close_conn(self, conn: _Conn) -> None:
        for sock in (conn.client, conn.upstream):
            self._conns.pop(sock.fileno(), None)
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(sock)
            sock.close()

    # -- UDP --------------------------------------------------------------------
    def _udp_in(self, listener: socket.socket) -> None:
        try:
            data, client = listener.recvfrom(65535)
        except BlockingIOError:
            return
        key = (listener.fileno(), client[:2])
        peer = self._udp.get(key)
        if peer is None:
            family, target = _target(self._rules[listener.fileno()][1])
            up = socket.socket(family, socket.SOCK_DGRAM)
            up.setblocking(False)
            up.connect(target)
            peer = _UdpPeer(listener, client[:2], up, time.monotonic())
            self._udp[key] = peer
            self._sel.register(up, selectors.EVENT_READ, ("udp-up", peer))
        peer.last = time.monotonic()
        with contextlib.suppress(OSError):
            peer.upstream.send(data)

    def _udp_back(self, peer: _UdpPeer) -> None:
        try:
            data = peer.upstream.recv(65535)
        except (BlockingIOError, ConnectionRefusedError):
            return
        peer.last = time.monotonic()
        with contextlib.suppress(OSError):
            peer.listener.sendto(data, peer.client)

    def _expire_udp(self) -> None:
        now = time.monotonic()
        for key, peer in list(self._udp.items()):
            if now - peer.last > UDP_IDLE_SECONDS:
                self._drop_udp(key, peer)

    def _drop_udp(self, key: tuple[int, tuple[str, int]], peer: _UdpPeer) -> None:
        self._udp.pop(key, None)
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(peer.upstream)
        peer.upstream.close()
