"""Small helpers every router uses: query values as dockerd parses them,
filters, JSON bodies and empty answers. (The services, the settings and the
negotiated version come from ..keys.)"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

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
    """The `filters` query parameter: {"key": ["v", ...]} or the older
    {"key": {"v": true}} form."""
    raw = request.query.get("filters", "")
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as err:
        raise bad_request(f"invalid filter: {err}") from err
    if not isinstance(parsed, dict):
        raise bad_request("invalid filter: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, value in parsed.items():
        if isinstance(value, dict):
            out[key] = [k for k, on in value.items() if on]
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        else:
            out[key] = [str(value)]
    return out


def fill_filters(target: Any, values: dict[str, list[str]]) -> None:
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
