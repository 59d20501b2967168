"""GET /events: the four services' event streams merged into Docker's
event messages, filtered as dockerd filters them, flushed one by one."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime import times
from hangu_runtime.errors import InvalidArgument
from hangu_runtime.filters import Args

from .. import versions
from ..errors import bad_request
from ..keys import api_version, backends
from .common import filters, query_time

_KINDS = ("container", "image", "network", "volume")
# The keys dockerd's events.Filter looks at; any other is refused.
EVENT_FILTERS = frozenset(
    {
        "type",
        "event",
        "container",
        "image",
        "network",
        "volume",
        "label",
        "scope",
        "daemon",
        "plugin",
        "node",
        "service",
        "secret",
        "config",
    }
)
_BACKLOG_WINDOW = 0.1  # seconds


def event_json(kind: str, ev: tpb.Event, api: str = versions.API_VERSION) -> dict[str, Any]:
    nanos = times.ns_from_timestamp(ev.time)
    attrs = dict(ev.attributes)
    out: dict[str, Any] = {
        "Type": kind,
        "Action": ev.action,
        "Actor": {"ID": ev.id, "Attributes": attrs},
        "scope": "local",
        "time": ev.time.seconds,
        "timeNano": nanos,
    }
    if kind == "container" and versions.less_than(api, "1.46"):
        # The pre-1.22 fields that older clients still read.
        out.update(
            status=ev.action, id=ev.id, **({"from": attrs["image"]} if "image" in attrs else {})
        )
    return out


def matches(event: dict[str, Any], flt: dict[str, list[str]]) -> bool:
    attrs = event["Actor"]["Attributes"]
    actor = event["Actor"]["ID"]
    kind = event["Type"]
    checks: dict[str, bool] = {
        "type": kind in flt.get("type", []),
        "event": event["Action"] in flt.get("event", [])
        or event["Action"].split(":")[0] in flt.get("event", []),
        "container": kind == "container"
        and any(
            v in (actor, attrs.get("name")) or actor.startswith(v) for v in flt.get("container", [])
        ),
        "image": any(
            v in (attrs.get("image"), actor, attrs.get("name")) for v in flt.get("image", [])
        ),
        "network": kind == "network"
        and any(v in (actor, attrs.get("name")) for v in flt.get("network", [])),
        "volume": kind == "volume" and actor in flt.get("volume", []),
        "label": Args(flt).match_kv_list("label", attrs),
    }
    return all(not (key in checks and not checks[key]) for key in flt)


async def events(request: web.Request) -> web.StreamResponse:
    flt = filters(request)
    try:
        Args(flt).validate(EVENT_FILTERS)
    except InvalidArgument as err:
        raise bad_request(err.message) from err
    since = query_time(request, "since", "'since'")
    until = query_time(request, "until", "'until'")
    kinds = [k for k in _KINDS if not flt.get("type") or k in flt["type"]]
    b = backends(request)
    api = api_version(request)
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    async def follow(kind: str) -> None:
        req = tpb.EventsRequest()
        if since is not None:
            req.since.CopyFrom(since)
        if until is not None:
            req.until.CopyFrom(until)
        stub = getattr(b, kind)
        try:
            async for ev in stub.Events(req):
                await queue.put(event_json(kind, ev, api))
        except grpc.aio.AioRpcError:
            pass  # a service without events (or down) just contributes none
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(follow(k)) for k in kinds]
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    await response.prepare(request)
    open_streams = len(tasks)
    loop = asyncio.get_running_loop()
    # With `since`, the four services replay their history at once, each in
    # its own order; hold the first moments back and send them sorted by time.
    backlog: list[dict[str, Any]] | None = [] if since is not None else None
    flush_at = loop.time() + _BACKLOG_WINDOW
    try:
        while open_streams:
            if backlog is not None:
                remaining = flush_at - loop.time()
                if remaining <= 0:
                    await _write_sorted(response, backlog)
                    backlog = None
                    continue
                try:
                    item = await asyncio.wait_for(queue.get(), remaining)
                except TimeoutError:
                    continue
            else:
                item = await queue.get()
            if item is None:
                open_streams -= 1
                continue
            if (until is not None and _after(item, until)) or not matches(item, flt):
                continue
            if backlog is not None:
                backlog.append(item)
            else:
                await response.write(json.dumps(item).encode() + b"\n")
        if backlog:
            await _write_sorted(response, backlog)
    finally:
        for t in tasks:
            t.cancel()
    await response.write_eof()
    return response


async def _write_sorted(response: web.StreamResponse, items: list[dict[str, Any]]) -> None:
    for item in sorted(items, key=lambda e: int(e["timeNano"])):
        await response.write(json.dumps(item).encode() + b"\n")


def _after(item: dict[str, Any], until: Timestamp) -> bool:
    return int(item["timeNano"]) > times.ns_from_timestamp(until)


ROUTES = [("GET", "/events", events)]
