"""Taking over the HTTP connection for attach and exec, as dockerd does.

After the `101 UPGRADED` (or 200) header the connection is a raw byte
stream both ways. aiohttp's WebSocketResponse does the same: it sends its
own header, then hands the protocol a parser that receives every later byte
(`protocol.set_parser`). We install a parser that queues raw bytes.

Half-close matters: the docker CLI shuts down its write side when its stdin
ends and keeps reading output. asyncio closes a transport whose protocol's
`eof_received()` returns a false value, which would cut the output too (the
podman bug). `HijackableRequestHandler` returns True for hijacked
connections and tells the stream that stdin ended."""

from __future__ import annotations

import asyncio
import struct
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from . import versions
from .keys import api_version

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"

STDIN, STDOUT, STDERR = 0, 1, 2
_HEADER = struct.Struct(">BxxxL")


def frame(stream: int, data: bytes) -> bytes:
    """One frame of Docker's multiplexed stream: [stream,0,0,0,len BE u32]."""
    return _HEADER.pack(stream, len(data)) + data


def unframe(buf: bytes) -> list[tuple[int, bytes]]:
    """Split a buffer of complete frames (used by tests and tools)."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + _HEADER.size <= len(buf):
        stream, size = _HEADER.unpack_from(buf, pos)
        pos += _HEADER.size
        out.append((stream, buf[pos : pos + size]))
        pos += size
    return out


class RawStream:
    """Payload parser for a hijacked connection: queues client bytes; an
    empty bytes object marks the end of the client's input.

    Bounded: above HIGH queued bytes the transport stops reading (the
    client's writes then block in its kernel buffers) until the forwarder
    has taken the queue below LOW. Without that, a client piping a large
    file into a container that reads slowly is buffered here in full."""

    HIGH = 1 << 20
    LOW = 256 << 10

    def __init__(self, transport: asyncio.BaseTransport | None = None) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.eof = False
        self.lost = asyncio.Event()
        self.transport = transport
        self.buffered = 0
        self._paused = False

    # The parser interface RequestHandler.data_received uses.
    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if data and not self.eof:
            self.queue.put_nowait(bytes(data))
            self.buffered += len(data)
            if (
                self.buffered > self.HIGH
                and not self._paused
                and isinstance(self.transport, asyncio.ReadTransport)
            ):
                self._paused = True
                self.transport.pause_reading()
        return False, b""

    def feed_eof(self) -> None:
        if not self.eof:
            self.eof = True
            self.queue.put_nowait(b"")

    def connection_lost(self) -> None:
        self.feed_eof()
        self.lost.set()

    async def read(self) -> bytes:
        """Next chunk from the client; b"" once its input has ended."""
        data = await self.queue.get()
        self.buffered -= len(data)
        if self._paused and self.buffered <= self.LOW:
            self._paused = False
            if (
                isinstance(self.transport, asyncio.ReadTransport)
                and not self.transport.is_closing()
            ):
                self.transport.resume_reading()
        return data


class HijackableRequestHandler(RequestHandler):
    """aiohttp's request handler, keeping half-closed hijacked connections
    open for writing."""

    def eof_received(self) -> Any:
        parser = self._payload_parser
        if isinstance(parser, RawStream):
            parser.feed_eof()
            return True
        return None

    def connection_lost(self, exc: BaseException | None) -> None:
        parser = self._payload_parser
        if isinstance(parser, RawStream):
            parser.connection_lost()
        super().connection_lost(exc)


class _HijackResponse(web.StreamResponse):
    """A header with no body framing: what follows is the raw stream."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status=status, reason=reason)
        self._length_check = False

    async def write_eof(self, data: bytes = b"") -> None:
        # The connection is closed by Hijacked.close(); nothing to finish.
        return None


class Hijacked:
    """The raw connection after the header has been sent."""

    def __init__(
        self, request: web.Request, response: web.StreamResponse, stream: RawStream | None
    ) -> None:
        self.request = request
        self.response = response
        self.stream = stream
        transport = request.transport
        assert transport is not None
        self.transport = transport

    @property
    def closed(self) -> bool:
        return self.transport.is_closing() or (
            self.stream is not None and self.stream.lost.is_set()
        )

    async def write(self, data: bytes) -> None:
        if self.closed:
            raise ConnectionResetError("client went away")
        self.transport.write(data)
        protocol = self.request.protocol
        await protocol._drain_helper()

    def close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


def wants_upgrade(request: web.Request) -> bool:
    connection = request.headers.get("Connection", "").lower()
    return "upgrade" in connection and request.headers.get("Upgrade", "").lower() == "tcp"


def content_type(upgrade: bool, tty: bool, api_version: str) -> str:
    """dockerd's: the multiplexed type only on an upgraded connection of
    API 1.42 or later without a TTY, else the raw type (even when the
    bytes are framed)."""
    if upgrade and not tty and versions.at_least(api_version, "1.42"):
        return MULTIPLEXED_STREAM
    return RAW_STREAM


async def hijack(request: web.Request, tty: bool) -> Hijacked:
    """Send the hijack header and take the connection over."""
    upgrade = wants_upgrade(request)
    response = _HijackResponse(101 if upgrade else 200, "UPGRADED" if upgrade else "OK")
    response.headers["Content-Type"] = content_type(upgrade, tty, api_version(request))
    if upgrade:
        response.headers["Connection"] = "Upgrade"
        response.headers["Upgrade"] = "tcp"
    response.force_close()
    await response.prepare(request)
    stream: RawStream | None = None
    # Without the upgrade, the client's later bytes would be parsed as
    # HTTP; only an upgraded connection carries stdin. The parser goes in
    # even when stdin is not attached, so a half-close keeps output flowing.
    if upgrade:
        stream = RawStream(request.transport)
        request.protocol.set_parser(stream)  # type: ignore[arg-type]
    return Hijacked(request, response, stream)
