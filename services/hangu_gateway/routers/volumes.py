"""Volumes area."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hangu.volume.v1 import volume_pb2 as vpb
from hangu_runtime.times import is_zero, rfc3339

from ..keys import backends
from .common import fill_filters, filters, json_body, json_response, no_content, qbool


def volume_json(v: vpb.Volume) -> dict[str, Any]:
    created = ""
    if not is_zero(v.created):
        # dockerd writes volume times as RFC 3339 in seconds.
        created = rfc3339(v.created, "none")
    out: dict[str, Any] = {
        "CreatedAt": created,
        "Driver": v.driver or "local",
        "Labels": dict(v.labels) or None,
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": dict(v.options) or None,
        "Scope": v.scope or "local",
    }
    if v.size >= 0 and (v.size or v.used_by):
        out["UsageData"] = {"Size": v.size, "RefCount": len(v.used_by)}
    return out


async def list_volumes(request: web.Request) -> web.StreamResponse:
    req = vpb.ListVolumesRequest()
    fill_filters(req.filters, filters(request))
    resp = await backends(request).volume.List(req)
    return json_response(
        {"Volumes": [volume_json(v) for v in resp.volumes], "Warnings": list(resp.warnings) or None}
    )


async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request, required=False) or {}
    if body.get("ClusterVolumeSpec"):
        return json_response({"message": "cluster volumes are not supported by hangu"}, 400)
    v = await backends(request).volume.Create(
        vpb.CreateVolumeRequest(
            name=body.get("Name") or "",
            driver=body.get("Driver") or "local",
            driver_opts=body.get("DriverOpts") or {},
            labels=body.get("Labels") or {},
        )
    )
    return json_response(volume_json(v), status=201)


async def inspect(request: web.Request) -> web.StreamResponse:
    v = await backends(request).volume.Get(vpb.GetVolumeRequest(name=request.match_info["name"]))
    return json_response(volume_json(v))


async def remove(request: web.Request) -> web.StreamResponse:
    await backends(request).volume.Remove(
        vpb.RemoveVolumeRequest(name=request.match_info["name"], force=qbool(request, "force"))
    )
    return no_content()


async def prune(request: web.Request) -> web.StreamResponse:
    req = vpb.PruneVolumesRequest()
    fill_filters(req.filters, filters(request))
    resp = await backends(request).volume.Prune(req)
    return json_response(
        {"VolumesDeleted": list(resp.deleted) or None, "SpaceReclaimed": resp.space_reclaimed}
    )


ROUTES = [
    ("GET", "/volumes", list_volumes),
    ("POST", "/volumes/create", create),
    ("POST", "/volumes/prune", prune),
    ("GET", "/volumes/{name}", inspect),
    ("DELETE", "/volumes/{name}", remove),
]
