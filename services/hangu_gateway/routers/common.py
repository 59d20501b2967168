"""Small helpers every router uses: query values as dockerd parses them,
filters, JSON bodies and empty answers. (The services, the settings and the
negotiated version come from ..keys.)"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web
from google.protobuf.timestamp_pb2 import Timestamp

from hangu_runtime.errors import InvalidArgument
from hangu_runtime.filters import Args
from hangu_runtime.timeparse import TimeParseError
from hangu_runtime.times import query_timestamp

from ..errors import bad_request

_FALSE = {"", "0", "no", "false", "none"}


def qbool(request: web.Request, name: str, default: bool = False) -> bool:
    """dockerd's httputils.BoolValue."""
    if name not in request.query:
        return default
    return request.query[name].strip().lower() not in _FALSE


def qint(request: web.Request, name: str, default: int | None = None) -> int | None:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError as err:
        raise bad_request(f"invalid value for {name}: {raw!r}") from err


def filters(request: web.Request) -> dict[str, list[str]]:
    """The `filters` query parameter in either of Docker's JSON forms
    (hangu_runtime.filters), as the plain dict a request carries."""
    try:
        return Args.from_json(request.query.get("filters", "")).to_dict()
    except InvalidArgument as err:
        raise bad_request(err.message) from err


def query_time(request: web.Request, name: str, label: str) -> Timestamp | None:
    """A `since`/`until` query value in any of Docker's time forms; None
    when absent. `label` is how the endpoint's error names it (dockerd
    quotes it one way for logs and another for events)."""
    try:
        return query_timestamp(request.query.get(name, ""))
    except TimeParseError as err:
        raise bad_request(f"invalid value for {label}: {err}") from err


def fill_filters(target: Any, values: Mapping[str, Sequence[str]]) -> None:
    """Copy filters into a proto map<string, hangu.types.v1.StringList>."""
    for key, vals in values.items():
        target[key].values.extend(vals)


async def json_body(request: web.Request, required: bool = True) -> Any:
    raw = await request.read()
    if not raw.strip():
        if required:
            raise bad_request("invalid JSON: request body is empty")
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as err:
        raise bad_request(f"invalid JSON: {err}") from err


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(data).encode() + b"\n", content_type="application/json"
    )


def no_content() -> web.Response:
    return web.Response(status=204)


def not_modified() -> web.Response:
    return web.Response(status=304)
