"""Containers area: create, list, inspect and the lifecycle verbs. I/O
(attach, wait, logs, resize, exec) lives in io.py."""

from __future__ import annotations

import time
from typing import Any

import grpc
from aiohttp import web

from hangu.container.v1 import container_pb2 as cpb

from .. import container_shape, convert
from ..errors import ApiError, bad_request
from ..keys import api_version, backends
from .common import (
    fill_filters,
    filters,
    json_body,
    json_response,
    no_content,
    not_modified,
    qbool,
    qint,
)


async def get_container(request: web.Request, ref: str, size: bool = False) -> cpb.Container:
    return await backends(request).container.Get(cpb.GetContainerRequest(reference=ref, size=size))


def _familiar_image(ref: str) -> str:
    """What dockerd names in "No such image": the reference with a tag."""
    last = ref.rsplit("/", 1)[-1]
    if "@" in ref or ":" in last:
        return ref
    return ref + ":latest"


async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    name = request.query.get("name", "")
    req = convert.create_request(
        name, body, request.query.get("platform", ""), api_version(request)
    )
    try:
        created = await backends(request).container.Create(req)
    except grpc.aio.AioRpcError as err:
        # One of the few overrides of a service's wording: on create, dockerd
        # names the missing image with its tag (the CLI pulls and retries on
        # that 404).
        details = err.details() or ""
        if err.code() == grpc.StatusCode.NOT_FOUND and details.startswith("No such image"):
            raise ApiError(404, f"No such image: {_familiar_image(req.config.image)}") from err
        raise
    return json_response({"Id": created.id, "Warnings": create_warnings(req)}, status=201)


def create_warnings(req: cpb.CreateContainerRequest) -> list[str]:
    """What dockerd warns about a create it accepts (the CLI prints each)."""
    hc = req.host_config
    if hc.network_mode == "host" and hc.port_bindings:
        return ["Published ports are discarded when using host network mode"]
    return []


async def list_containers(request: web.Request) -> web.StreamResponse:
    # The listing rules (all, limit, order) are the container service's.
    limit = qint(request, "limit", 0) or 0
    req = cpb.ListContainersRequest(
        all=qbool(request, "all"), size=qbool(request, "size"), limit=max(limit, 0)
    )
    flt = filters(request)
    for legacy in ("before", "since"):  # the legacy query parameters, as filters
        if request.query.get(legacy):
            flt.setdefault(legacy, []).append(request.query[legacy])
    fill_filters(req.filters, flt)
    resp = await backends(request).container.List(req)
    now = time.time()
    return json_response([container_shape.list_json(c, now) for c in resp.containers])


async def inspect(request: web.Request) -> web.StreamResponse:
    c = await get_container(request, request.match_info["id"], qbool(request, "size"))
    return json_response(container_shape.inspect_json(c, api_version(request)))


async def start(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    raw = (await request.read()).strip()
    if raw not in (b"", b"null", b"{}"):
        raise bad_request(
            "starting container with non-empty request body was deprecated "
            "since API v1.22 and removed in v1.24"
        )
    if request.query.get("checkpoint"):
        raise ApiError(501, "checkpoints are not supported by hangu")
    resp = await backends(request).container.Start(
        cpb.StartContainerRequest(reference=ref, detach_keys=request.query.get("detachKeys", ""))
    )
    return not_modified() if resp.not_modified else no_content()


def _stop_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = {"signal": request.query.get("signal", "")}
    timeout = qint(request, "t")
    if timeout is not None:
        args["timeout"] = timeout
    return args


async def stop(request: web.Request) -> web.StreamResponse:
    resp = await backends(request).container.Stop(
        cpb.StopContainerRequest(reference=request.match_info["id"], **_stop_args(request))
    )
    return not_modified() if resp.not_modified else no_content()


async def restart(request: web.Request) -> web.StreamResponse:
    await backends(request).container.Restart(
        cpb.RestartContainerRequest(reference=request.match_info["id"], **_stop_args(request))
    )
    return no_content()


async def kill(request: web.Request) -> web.StreamResponse:
    await backends(request).container.Kill(
        cpb.KillContainerRequest(
            reference=request.match_info["id"], signal=request.query.get("signal", "")
        )
    )
    return no_content()


async def pause(request: web.Request) -> web.StreamResponse:
    await backends(request).container.Pause(
        cpb.PauseContainerRequest(reference=request.match_info["id"])
    )
    return no_content()


async def unpause(request: web.Request) -> web.StreamResponse:
    await backends(request).container.Unpause(
        cpb.UnpauseContainerRequest(reference=request.match_info["id"])
    )
    return no_content()


async def rename(request: web.Request) -> web.StreamResponse:
    new_name = request.query.get("name", "")
    if not new_name:
        raise bad_request("Neither old nor new names may be empty")
    await backends(request).container.Rename(
        cpb.RenameContainerRequest(
            reference=request.match_info["id"], new_name=new_name.lstrip("/")
        )
    )
    return no_content()


async def remove(request: web.Request) -> web.StreamResponse:
    await backends(request).container.Remove(
        cpb.RemoveContainerRequest(
            reference=request.match_info["id"],
            force=qbool(request, "force"),
            remove_volumes=qbool(request, "v"),
            remove_link=qbool(request, "link"),
        )
    )
    return no_content()


async def top(request: web.Request) -> web.StreamResponse:
    resp = await backends(request).container.Top(
        cpb.TopRequest(reference=request.match_info["id"], ps_args=request.query.get("ps_args", ""))
    )
    return json_response(
        {"Titles": list(resp.titles), "Processes": [list(p.values) for p in resp.processes]}
    )


async def update(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("invalid JSON: expected an object")
    resources = convert.host_config(body)
    req = cpb.UpdateContainerRequest(reference=request.match_info["id"], resources=resources)
    if body.get("RestartPolicy"):
        req.restart_policy.CopyFrom(resources.restart_policy)
    resp = await backends(request).container.Update(req)
    return json_response({"Warnings": list(resp.warnings)})


async def prune(request: web.Request) -> web.StreamResponse:
    req = cpb.PruneContainersRequest()
    fill_filters(req.filters, filters(request))
    resp = await backends(request).container.Prune(req)
    return json_response(
        {"ContainersDeleted": list(resp.deleted) or None, "SpaceReclaimed": resp.space_reclaimed}
    )


ROUTES = [
    ("POST", "/containers/create", create),
    ("GET", "/containers/json", list_containers),
    ("POST", "/containers/prune", prune),
    ("GET", "/containers/{id}/json", inspect),
    ("POST", "/containers/{id}/start", start),
    ("POST", "/containers/{id}/stop", stop),
    ("POST", "/containers/{id}/restart", restart),
    ("POST", "/containers/{id}/kill", kill),
    ("POST", "/containers/{id}/pause", pause),
    ("POST", "/containers/{id}/unpause", unpause),
    ("POST", "/containers/{id}/rename", rename),
    ("GET", "/containers/{id}/top", top),
    ("POST", "/containers/{id}/update", update),
    ("DELETE", "/containers/{id}", remove),
    # `docker rm --link /me/alias` sends the link's name, slashes and all.
    ("DELETE", "/containers/{id:.+}", remove),
]
