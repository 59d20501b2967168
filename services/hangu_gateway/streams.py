"""Streaming JSON progress, Docker's jsonmessage format: one JSON object per
line, flushed as each message arrives (clients render progress live)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable
from typing import Any, Protocol

import grpc
from aiohttp import web

from hangu.image.v1 import image_pb2
from hangu_runtime.units import human_size

# dockerd renders the bar for a terminal width it does not know (200).
_WIDTH = 200


def progress_bar(
    current: int, total: int, start: float | None = None, now: float | None = None
) -> str:
    """The `progress` string of a JSON message, as JSONProgress.String()."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if _WIDTH > 110:
        bar = "[" + "=" * percentage + ">" + " " * max(50 - percentage, 0) + "] "
    numbers = f"{human_size(current):>8}/{human_size(total)}"
    if current > total:
        numbers = f"{human_size(current):>8}"
    left = ""
    if current > 0 and start and percentage < 50:
        elapsed = (now or time.time()) - start
        remaining = int((total - current) * (elapsed / current))
        left = " " + _go_duration(remaining)
    return bar + numbers + left


def _go_duration(seconds: int) -> str:
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def progress_message(p: image_pb2.Progress, start: float | None = None) -> dict[str, Any]:
    """A Progress from the image service as Docker's JSON message."""
    if p.error:
        return error_message(p.error, p.error_code)
    msg: dict[str, Any] = {}
    if p.stream:
        msg["stream"] = p.stream
    if p.status:
        msg["status"] = p.status
    # dockerd sends progressDetail only on per-item updates (a layer's
    # lines, progress.Update); a whole-operation line ("Pulling from x",
    # "Digest: ...", "Status: ...") has none, or the CLI ends it with "\r"
    # in a terminal and the next line overwrites it.
    if _per_item(p):
        detail: dict[str, int] = {}
        if p.current or p.total:
            detail = {"current": p.current}
            if p.total:
                detail["total"] = p.total
        msg["progressDetail"] = detail
        bar = progress_bar(p.current, p.total, start)
        if bar:
            msg["progress"] = bar
    if p.id:
        msg["id"] = p.id
    aux = _aux(p)
    if aux is not None:
        msg["aux"] = aux
    return msg


def _aux(p: image_pb2.Progress) -> dict[str, Any] | None:
    """Docker's "aux" object, keys in dockerd's order (moby's BuildResult
    and PushResult)."""
    kind = p.WhichOneof("aux")
    if kind == "id_result":
        return {"ID": p.id_result.id}
    if kind == "push_result":
        r = p.push_result
        return {"Tag": r.tag, "Digest": r.digest, "Size": r.size}
    return None


def _per_item(p: image_pb2.Progress) -> bool:
    if getattr(p, "detail", False) or p.current or p.total:
        return True
    # Services that do not set `detail`: layer lines are keyed by a short id.
    return len(p.id) == 12 and all(c in "0123456789abcdef" for c in p.id)


def error_message(message: str, code: int = 0) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message} if code else {"message": message}
    return {"errorDetail": detail, "error": message}


class JsonStream:
    """A 200 response streaming newline-delimited JSON, one flush per line."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response = web.StreamResponse(status=200)
        self.response.content_type = "application/json"

    @property
    def started(self) -> bool:
        return self.response.prepared

    async def send(self, message: dict[str, Any]) -> None:
        if not self.response.prepared:
            await self.response.prepare(self.request)
        await self.response.write(json.dumps(message).encode() + b"\r\n")

    async def finish(self) -> web.StreamResponse:
        if not self.response.prepared:
            await self.response.prepare(self.request)
        await self.response.write_eof()
        return self.response


class _Chunk(Protocol):
    data: bytes


async def stream_tar(
    request: web.Request,
    chunks: AsyncIterable[_Chunk],
    what: str,
) -> web.StreamResponse:
    """Forward a service's stream of byte chunks as an application/x-tar body.

    The 200 goes out with the first chunk, so a failure before it is still a
    Docker error response (the app's middleware maps it); after it, as with
    dockerd, the only way to tell the client is to cut the connection."""
    response = web.StreamResponse(status=200)
    response.content_type = "application/x-tar"
    try:
        async for chunk in chunks:
            if not response.prepared:
                await response.prepare(request)
            await response.write(chunk.data)
    except grpc.aio.AioRpcError as err:
        if response.prepared:
            raise ConnectionResetError(f"{what} failed mid-stream") from err
        raise
    if not response.prepared:
        await response.prepare(request)
    await response.write_eof()
    return response
