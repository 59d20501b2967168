"""Images area: pull, import, load, save, push, list, inspect, tag, remove,
history, prune."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

import grpc
from aiohttp import web

from hangu.container.v1 import container_pb2 as cpb
from hangu.image.v1 import image_pb2 as ipb

from .. import image_shape
from ..errors import ApiError, bad_request, not_implemented, rpc_status
from ..keys import api_version, backends
from ..streams import JsonStream, error_message, progress_message, stream_tar
from ..uploads import encoded_body
from .common import fill_filters, filters, json_response, qbool


def registry_auth(request: web.Request) -> ipb.RegistryAuth:
    """X-Registry-Auth: base64url JSON (padding optional), as the CLI sends."""
    raw = request.headers.get("X-Registry-Auth", "").strip()
    if not raw:
        return ipb.RegistryAuth()
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ipb.RegistryAuth()  # dockerd ignores an undecodable header too
    if not isinstance(data, dict):
        return ipb.RegistryAuth()
    return ipb.RegistryAuth(
        username=data.get("username") or "",
        password=data.get("password") or "",
        server_address=data.get("serveraddress") or "",
        identity_token=data.get("identitytoken") or "",
        registry_token=data.get("registrytoken") or "",
    )


def parse_platform(value: str) -> ipb.Platform:
    if not value:
        return ipb.Platform()
    parts = value.split("/")
    return ipb.Platform(
        os=parts[0],
        architecture=parts[1] if len(parts) > 1 else "",
        variant=parts[2] if len(parts) > 2 else "",
    )


async def stream_progress(request: web.Request, call: Any) -> web.StreamResponse:
    """Forward a Progress stream as Docker JSON messages. The 200 header
    waits for the first message, so an early failure is a proper HTTP error
    (the CLI prints it as "Error response from daemon"); later failures go
    in the stream, as dockerd does."""
    out = JsonStream(request)
    start = time.time()
    try:
        async for p in call:
            await out.send(progress_message(p, start))
    except grpc.aio.AioRpcError as err:
        if not out.started:
            raise
        _, message = rpc_status(err)
        await out.send(error_message(message))
    finally:
        call.cancel()
    return await out.finish()


async def create(request: web.Request) -> web.StreamResponse:
    q = request.query
    if q.get("fromImage"):
        return await _pull(request)
    if q.get("fromSrc"):
        return await _import(request)
    raise bad_request("either fromImage or fromSrc is required")


def _pull_reference(image: str, tag: str) -> tuple[str, bool]:
    last = image.rsplit("/", 1)[-1]
    has_tag = "@" in image or ":" in last
    if tag:
        if has_tag:
            return image, False
        sep = "@" if ":" in tag else ":"
        return f"{image}{sep}{tag}", False
    return image, not has_tag


async def _registry_stream(request: web.Request, call: Any) -> web.StreamResponse:
    """A pull or push stream. A registry's refusal is not a 401 of the
    daemon's own: dockerd answers it as an unknown error (500), and the
    docker CLI would otherwise stop to prompt for a login."""
    try:
        return await stream_progress(request, call)
    except grpc.aio.AioRpcError as err:
        if err.code() == grpc.StatusCode.UNAUTHENTICATED:
            raise ApiError(500, err.details() or "unauthorized") from err
        raise


async def _pull(request: web.Request) -> web.StreamResponse:
    reference, all_tags = _pull_reference(request.query["fromImage"], request.query.get("tag", ""))
    call = backends(request).image.Pull(
        ipb.PullRequest(
            reference=reference,
            all_tags=all_tags,
            platform=parse_platform(request.query.get("platform", "")),
            auth=registry_auth(request),
        )
    )
    return await _registry_stream(request, call)


async def _import(request: web.Request) -> web.StreamResponse:
    q = request.query
    if q["fromSrc"] != "-":
        raise not_implemented("importing from a URL (fromSrc other than -)")
    repo, tag = q.get("repo", ""), q.get("tag", "")
    if repo and ":" in repo.rsplit("/", 1)[-1] and not tag:
        repo, tag = repo.rsplit(":", 1)

    options = ipb.ImportRequest(
        repository=repo,
        tag=tag,
        message=q.get("message", ""),
        changes=q.getall("changes", []),
        platform=parse_platform(q.get("platform", "")),
    )
    data_field = ipb.ImportRequest.DESCRIPTOR.fields_by_name["data"].number
    call = backends(request).uploads.import_(encoded_body(request, options, data_field))
    return await stream_progress(request, call)


async def load(request: web.Request) -> web.StreamResponse:
    quiet = qbool(request, "quiet")

    data_field = ipb.LoadRequest.DESCRIPTOR.fields_by_name["data"].number
    call = backends(request).uploads.load(
        encoded_body(request, ipb.LoadRequest(quiet=quiet), data_field)
    )
    return await stream_progress(request, call)


async def save(request: web.Request) -> web.StreamResponse:
    names = request.query.getall("names", [])
    if "name" in request.match_info:
        names = [request.match_info["name"]]
    if not names:
        raise bad_request("no images to save")
    call = backends(request).image.Save(
        ipb.SaveRequest(
            references=names, platform=parse_platform(request.query.get("platform", ""))
        )
    )
    return await stream_tar(request, call, "save")


async def push(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    tag = request.query.get("tag", "")
    reference = f"{name}:{tag}" if tag else name
    call = backends(request).image.Push(
        ipb.PushRequest(
            reference=reference,
            all_tags=not tag and ":" not in name.rsplit("/", 1)[-1],
            auth=registry_auth(request),
        )
    )
    return await _registry_stream(request, call)


async def list_images(request: web.Request) -> web.StreamResponse:
    req = ipb.ListImagesRequest(
        all=qbool(request, "all"), shared_size=qbool(request, "shared-size"), without_config=True
    )
    fill_filters(req.filters, filters(request))
    resp = await backends(request).image.List(req)
    items = sorted(resp.images, key=lambda i: (i.created.seconds, i.id), reverse=True)
    return json_response(image_shape.list_many(items, api_version(request)))


async def get_image(request: web.Request, ref: str) -> ipb.Image:
    return await backends(request).image.Get(ipb.GetImageRequest(reference=ref))


async def inspect(request: web.Request) -> web.StreamResponse:
    img = await get_image(request, request.match_info["name"])
    return json_response(image_shape.inspect_json(img, api_version(request)))


async def history(request: web.Request) -> web.StreamResponse:
    resp = await backends(request).image.History(
        ipb.HistoryRequest(reference=request.match_info["name"])
    )
    return json_response(image_shape.history_json(list(resp.entries)))


async def tag(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["name"]
    repo, tag_ = request.query.get("repo", ""), request.query.get("tag", "")
    if not repo:
        raise bad_request("repository name is required")
    target = f"{repo}:{tag_}" if tag_ else repo
    await backends(request).image.Tag(ipb.TagRequest(source=ref, target=target))
    return web.Response(status=201)


async def _containers_using(request: web.Request, image_id: str) -> list[str]:
    resp = await backends(request).container.List(cpb.ListContainersRequest(all=True))
    return [c.id for c in resp.containers if c.image_id == image_id]


async def remove(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["name"]
    img = await get_image(request, ref)
    used_by = await _containers_using(request, img.id)
    resp = await backends(request).image.Remove(
        ipb.RemoveImageRequest(
            reference=ref,
            force=qbool(request, "force"),
            no_prune=qbool(request, "noprune"),
            used_by_containers=used_by,
        )
    )
    out: list[dict[str, str]] = [{"Untagged": u} for u in resp.untagged]
    out += [{"Deleted": d} for d in resp.deleted]
    return json_response(out)


async def prune(request: web.Request) -> web.StreamResponse:
    resp_c = await backends(request).container.List(cpb.ListContainersRequest(all=True))
    req = ipb.PruneImagesRequest(in_use_image_ids=sorted({c.image_id for c in resp_c.containers}))
    fill_filters(req.filters, filters(request))
    resp = await backends(request).image.Prune(req)
    deleted: list[dict[str, str]] = [{"Untagged": u} for u in resp.untagged]
    deleted += [{"Deleted": d} for d in resp.deleted]
    return json_response({"ImagesDeleted": deleted or None, "SpaceReclaimed": resp.space_reclaimed})


ROUTES = [
    ("POST", "/images/create", create),
    ("POST", "/images/load", load),
    ("GET", "/images/get", save),
    ("GET", "/images/json", list_images),
    ("POST", "/images/prune", prune),
    ("GET", "/images/{name:.+}/json", inspect),
    ("GET", "/images/{name:.+}/history", history),
    ("GET", "/images/{name:.+}/get", save),
    ("POST", "/images/{name:.+}/tag", tag),
    ("POST", "/images/{name:.+}/push", push),
    ("DELETE", "/images/{name:.+}", remove),
]
