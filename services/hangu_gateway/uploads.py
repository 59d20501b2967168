"""Request bodies that go to the image service as streams of bytes (a build
context, an image archive, a root filesystem): read ahead of the gRPC
stream, and each piece encoded here as its one-`bytes`-field message in a
single copy. Encoding through protobuf copies every megabyte three times
(into the message, out of it twice), the largest CPU cost of an upload; so
these calls send the encoded bytes with an identity serializer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from google.protobuf.message import Message
from grpc import aio

from hangu.image.v1 import image_pb2 as ipb

BATCH = 1 << 20  # each gRPC message has a fixed cost on both sides
READ_AHEAD = 4  # batches read before they are sent on

_SERVICE = ipb.DESCRIPTOR.services_by_name["ImageService"]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        if not n:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def encode_bytes_field(field_number: int, pieces: list[bytes]) -> bytes:
    """A message whose only field set is the bytes field `field_number`,
    holding the pieces joined: protobuf's wire form, built in one join."""
    size = sum(len(piece) for piece in pieces)
    if not size:
        return b""  # proto3 leaves an empty field out
    head = _varint(field_number << 3 | 2) + _varint(size)
    return b"".join([head, *pieces])


async def _batches(request: web.Request) -> AsyncIterator[list[bytes]]:
    """The body in batches of about BATCH bytes, read ahead while the
    caller sends the last one: a gRPC request stream takes its next message
    only once the last is accepted, so reading and sending one after the
    other would add their times up."""
    queue: asyncio.Queue[list[bytes] | None | Exception] = asyncio.Queue(maxsize=READ_AHEAD)

    async def read() -> None:
        try:
            pending: list[bytes] = []
            size = 0
            while True:
                chunk = await request.content.readany()
                if not chunk:
                    break
                pending.append(chunk)
                size += len(chunk)
                if size >= BATCH:
                    await queue.put(pending)
                    pending, size = [], 0
            if pending:
                await queue.put(pending)
            await queue.put(None)
        except Exception as err:  # a client gone mid-body: the reader says so
            await queue.put(err)

    reader = asyncio.create_task(read())
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        reader.cancel()


async def encoded_body(
    request: web.Request, first: Message, field_number: int
) -> AsyncIterator[bytes]:
    """`first` (the options), then the body as messages of its type with
    only the bytes field `field_number` set."""
    yield first.SerializeToString()
    async for pieces in _batches(request):
        yield encode_bytes_field(field_number, pieces)


def _identity(data: bytes) -> bytes:
    return data


class Uploads:
    """The image service's upload calls, taking encoded request messages."""

    def __init__(self, channel: aio.Channel) -> None:
        def call(method: str, response: Callable[[bytes], Any]) -> Any:
            return channel.stream_stream(
                f"/{_SERVICE.full_name}/{method}",
                request_serializer=_identity,
                response_deserializer=response,
            )

        self.build = call("Build", ipb.Progress.FromString)
        self.load = call("Load", ipb.Progress.FromString)
        self.import_ = call("Import", ipb.Progress.FromString)
