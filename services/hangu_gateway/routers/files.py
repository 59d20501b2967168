"""A container's files and resource use: archive (docker cp), changes,
export, commit, stats; and GET /system/df."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
from aiohttp import web

from hangu.container.v1 import container_pb2 as cpb
from hangu.image.v1 import image_pb2 as ipb
from hangu.volume.v1 import volume_pb2 as vpb
from hangu_runtime import times
from hangu_runtime.times import ZERO_TIME, rfc3339

from .. import container_shape, image_shape, versions
from ..errors import ApiError, bad_request
from ..keys import api_version, backends
from ..streams import stream_tar
from .build import build_cache_rows
from .common import json_response, qbool
from .containers import get_container
from .volumes import volume_json

_CHUNK = 256 * 1024


def path_stat_header(chunk: cpb.GetArchiveResponse) -> str:
    """X-Docker-Container-Path-Stat: base64 of the path's stat as JSON
    (dockerd's container.PathStat; mtime as Python's isoformat in UTC)."""
    if not chunk.HasField("stat"):
        return base64.b64encode(b"{}").decode()
    st = chunk.stat
    mtime = times.datetime_from_timestamp(st.mtime).isoformat().replace("+00:00", "Z")
    doc = {
        "name": st.name,
        "size": st.size,
        "mode": st.mode,
        "mtime": mtime,
        "linkTarget": st.link_target,
    }
    return base64.b64encode(json.dumps(doc).encode()).decode()


async def archive_get(request: web.Request) -> web.StreamResponse:
    ref, path = request.match_info["id"], request.query.get("path", "")
    if not path:
        raise bad_request("path is required")
    c = await get_container(request, ref)
    call = backends(request).container.GetArchive(cpb.GetArchiveRequest(reference=c.id, path=path))
    response = web.StreamResponse(status=200)
    response.content_type = "application/x-tar"
    try:
        async for chunk in call:
            if not response.prepared:
                response.headers["X-Docker-Container-Path-Stat"] = path_stat_header(chunk)
                if request.method == "HEAD":
                    response.content_length = 0
                await response.prepare(request)
                if request.method == "HEAD":
                    break
            if chunk.data:
                await response.write(chunk.data)
    except grpc.aio.AioRpcError as err:
        if response.prepared:
            raise ConnectionResetError("archive failed mid-stream") from err
        raise
    finally:
        call.cancel()
    if not response.prepared:
        await response.prepare(request)
    await response.write_eof()
    return response


async def archive_put(request: web.Request) -> web.StreamResponse:
    ref, path = request.match_info["id"], request.query.get("path", "")
    if not path:
        raise bad_request("path is required")
    c = await get_container(request, ref)

    async def requests() -> AsyncIterator[cpb.PutArchiveRequest]:
        yield cpb.PutArchiveRequest(
            reference=c.id,
            path=path,
            no_overwrite_dir_non_dir=qbool(request, "noOverwriteDirNonDir"),
            copy_uid_gid=qbool(request, "copyUIDGID"),
        )
        while chunk := await request.content.read(_CHUNK):
            yield cpb.PutArchiveRequest(data=chunk)

    await backends(request).container.PutArchive(requests())
    return web.Response(status=200)


async def changes(request: web.Request) -> web.StreamResponse:
    c = await get_container(request, request.match_info["id"])
    resp = await backends(request).image.Changes(ipb.ChangesRequest(container_id=c.id))
    return json_response([{"Path": ch.path, "Kind": ch.kind} for ch in resp.changes] or None)


async def export(request: web.Request) -> web.StreamResponse:
    c = await get_container(request, request.match_info["id"])
    call = backends(request).image.Export(ipb.ExportRequest(container_id=c.id))
    return await stream_tar(request, call, "export")


async def commit(request: web.Request) -> web.StreamResponse:
    q = request.query
    ref = q.get("container", "")
    if not ref:
        raise bad_request("container is required")
    c = await get_container(request, ref)
    config = container_shape.config_json(c.config)
    raw = (await request.read()).strip()
    if raw and raw != b"null":
        try:
            override = json.loads(raw)
        except ValueError as err:
            raise bad_request(f"invalid JSON: {err}") from err
        config.update({k: v for k, v in (override or {}).items() if v not in (None, "", [], {})})
    resp = await backends(request).image.Commit(
        ipb.CommitRequest(
            container_id=c.id,
            repository=q.get("repo", ""),
            tag=q.get("tag", ""),
            comment=q.get("comment", ""),
            author=q.get("author", ""),
            changes=q.getall("changes", []),
            config_json=json.dumps(config).encode(),
        )
    )
    return json_response({"Id": resp.id}, status=201)


def stats_json(
    c: cpb.Container, cur: cpb.StatsSample, prev: cpb.StatsSample | None
) -> dict[str, Any]:
    def cpu(s: cpb.StatsSample | None) -> dict[str, Any]:
        if s is None:
            return {
                "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
            }
        return {
            "cpu_usage": {
                "total_usage": s.cpu_total_usage,
                "usage_in_kernelmode": s.cpu_usage_in_kernelmode,
                "usage_in_usermode": s.cpu_usage_in_usermode,
            },
            "system_cpu_usage": s.system_cpu_usage,
            "online_cpus": s.online_cpus,
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
        }

    return {
        "name": "/" + c.name,
        "id": c.id,
        "read": rfc3339(cur.read, "fixed"),
        "preread": rfc3339(prev.read, "fixed") if prev else ZERO_TIME,
        "pids_stats": {
            "current": cur.pids_current,
            **({"limit": cur.pids_limit} if cur.pids_limit else {}),
        },
        "blkio_stats": {
            "io_service_bytes_recursive": [
                {"major": 0, "minor": 0, "op": "read", "value": cur.blkio_read_bytes},
                {"major": 0, "minor": 0, "op": "write", "value": cur.blkio_write_bytes},
            ],
            "io_serviced_recursive": None,
            "io_queue_recursive": None,
            "io_service_time_recursive": None,
            "io_wait_time_recursive": None,
            "io_merged_recursive": None,
            "io_time_recursive": None,
            "sectors_recursive": None,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": cpu(cur),
        "precpu_stats": cpu(prev),
        "memory_stats": {
            "usage": cur.memory_usage,
            "limit": cur.memory_limit,
            "stats": dict(cur.memory_stats),
        },
        "networks": {
            name: {
                "rx_bytes": n.rx_bytes,
                "rx_packets": n.rx_packets,
                "rx_errors": n.rx_errors,
                "rx_dropped": n.rx_dropped,
                "tx_bytes": n.tx_bytes,
                "tx_packets": n.tx_packets,
                "tx_errors": n.tx_errors,
                "tx_dropped": n.tx_dropped,
            }
            for name, n in cur.networks.items()
        },
    }


async def stats(request: web.Request) -> web.StreamResponse:
    c = await get_container(request, request.match_info["id"])
    stream = qbool(request, "stream", default=True)
    one_shot = qbool(request, "one-shot")
    if one_shot and stream:
        raise bad_request("cannot have stream=true and one-shot=true")
    call = backends(request).container.Stats(cpb.StatsRequest(reference=c.id, stream=True))
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    prev: cpb.StatsSample | None = None
    try:
        async for sample in call:
            if not stream and not one_shot and prev is None:
                prev = sample  # dockerd reads twice so CPU% can be computed
                continue
            if not response.prepared:
                await response.prepare(request)
            await response.write(json.dumps(stats_json(c, sample, prev)).encode() + b"\n")
            prev = sample
            if not stream:
                break
    except grpc.aio.AioRpcError:
        if response.prepared:
            return response
        raise
    finally:
        call.cancel()
    if not response.prepared:
        raise ApiError(500, "no statistics from the container service")
    await response.write_eof()
    return response


_DF_TYPES = ("container", "image", "volume", "build-cache")


def _df_types(request: web.Request) -> set[str]:
    """The object types asked for (`type`, API 1.42): all without one."""
    asked = request.query.getall("type", [])
    if versions.less_than(api_version(request), "1.42") or "type" not in request.query:
        return set(_DF_TYPES)
    for kind in asked:
        if kind not in _DF_TYPES:
            raise bad_request(f"unknown object type: {kind}")
    return set(asked)


async def system_df(request: web.Request) -> web.StreamResponse:
    b = backends(request)
    api = api_version(request)
    kinds = _df_types(request)
    out: dict[str, Any] = {
        "LayersSize": 0,
        "Images": None,
        "Containers": None,
        "Volumes": None,
        "BuildCache": None,
    }
    ctrs = await b.container.List(cpb.ListContainersRequest(all=True, size=True))
    if "image" in kinds:
        imgs = await b.image.List(ipb.ListImagesRequest(shared_size=True, without_config=True))
        images = []
        for img in imgs.images:
            item = image_shape.list_json(img, api)
            item["Containers"] = sum(1 for c in ctrs.containers if c.image_id == img.id)
            images.append(item)
        out["LayersSize"] = imgs.layers_size
        out["Images"] = images
    if "container" in kinds:
        out["Containers"] = [container_shape.list_json(c) for c in ctrs.containers]
    if "volume" in kinds:
        vols = await b.volume.List(vpb.ListVolumesRequest())
        out["Volumes"] = [
            dict(volume_json(v), UsageData={"Size": v.size, "RefCount": len(v.used_by)})
            for v in vols.volumes
        ]
    if "build-cache" in kinds:
        out["BuildCache"] = await build_cache_rows(request)
    if versions.less_than(api, "1.42"):
        # Removed in 1.42; dockerd 20.10 still sends it, the cache's total.
        out["BuilderSize"] = sum(row["Size"] for row in out["BuildCache"] or [])
    return json_response(out)


ROUTES = [
    ("GET", "/containers/{id}/archive", archive_get),
    ("HEAD", "/containers/{id}/archive", archive_get),
    ("PUT", "/containers/{id}/archive", archive_put),
    ("GET", "/containers/{id}/changes", changes),
    ("GET", "/containers/{id}/export", export),
    ("GET", "/containers/{id}/stats", stats),
    ("POST", "/commit", commit),
    ("GET", "/system/df", system_df),
]
