"""POST /build: the classic builder's query translated into the image
service's Build call, the context streamed through as it arrives, the
build's messages streamed back. POST /build/prune and the rows of
/system/df's BuildCache: the image service's build cache (buildcache.py)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from typing import Any

from aiohttp import web

from hangu.container.v1 import container_pb2 as cpb
from hangu.image.v1 import image_pb2 as ipb
from hangu_runtime.times import rfc3339

from .. import versions
from ..errors import bad_request
from ..keys import api_version, backends
from ..uploads import encoded_body
from .common import fill_filters, filters, json_response, qbool, qint
from .images import parse_platform, stream_progress


def _json_query(request: web.Request, name: str, what: str) -> Any:
    raw = request.query.get(name, "")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request(f"unable to parse {what}: {raw}") from None


def _build_args(request: web.Request, options: ipb.BuildOptions) -> None:
    value = _json_query(request, "buildargs", "build args")
    if value is None:
        return
    if not isinstance(value, dict):
        raise bad_request("unable to parse build args")
    for name, arg in value.items():
        if arg is None:
            options.build_args_unset.append(str(name))
        else:
            options.build_args[str(name)] = str(arg)


def _labels(request: web.Request, options: ipb.BuildOptions) -> None:
    value = _json_query(request, "labels", "labels")
    if value is None:
        return
    if not isinstance(value, dict):
        raise bad_request("unable to parse labels")
    for key, label in value.items():
        options.labels[str(key)] = "" if label is None else str(label)


def _ulimits(request: web.Request, options: ipb.BuildOptions) -> None:
    value = _json_query(request, "ulimits", "ulimits")
    for item in value or []:
        if not isinstance(item, dict):
            raise bad_request("unable to parse ulimits")
        options.ulimits.append(
            ipb.BuildUlimit(
                name=str(item.get("Name") or ""),
                soft=int(item.get("Soft") or 0),
                hard=int(item.get("Hard") or 0),
            )
        )


def registry_config(request: web.Request) -> dict[str, ipb.RegistryAuth]:
    """X-Registry-Config: base64 JSON of {registry: auth config}, as the CLI
    sends every credential it has for a build's FROM pulls."""
    raw = request.headers.get("X-Registry-Config", "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return {}  # dockerd ignores an undecodable header too
    out: dict[str, ipb.RegistryAuth] = {}
    for host, auth in (data if isinstance(data, dict) else {}).items():
        if not isinstance(auth, dict):
            continue
        username, password = auth.get("username") or "", auth.get("password") or ""
        if not username and auth.get("auth"):
            with contextlib.suppress(binascii.Error, UnicodeDecodeError):
                username, _, password = base64.b64decode(auth["auth"]).decode().partition(":")
        out[str(host)] = ipb.RegistryAuth(
            username=username,
            password=password,
            server_address=auth.get("serveraddress") or str(host),
            identity_token=auth.get("identitytoken") or "",
            registry_token=auth.get("registrytoken") or "",
        )
    return out


def build_options(request: web.Request) -> ipb.BuildOptions:
    q = request.query
    if qbool(request, "squash"):
        raise bad_request("squash is only supported with experimental mode")
    if q.get("version", "") == "2":
        raise bad_request("buildkit not supported by daemon")
    isolation = q.get("isolation", "")
    if isolation not in ("", "default"):
        raise bad_request(f'unsupported isolation: "{isolation}"')
    options = ipb.BuildOptions(
        dockerfile=q.get("dockerfile", ""),
        tags=q.getall("t", []),
        quiet=qbool(request, "q"),
        no_cache=qbool(request, "nocache"),
        pull=qbool(request, "pull"),
        remove=qbool(request, "rm", default=True),
        force_remove=qbool(request, "forcerm"),
        target=q.get("target", ""),
        network_mode=q.get("networkmode", ""),
        extra_hosts=[h for value in q.getall("extrahosts", []) for h in value.split(",") if h],
        shm_size=qint(request, "shmsize") or 0,
        memory=qint(request, "memory") or 0,
        memory_swap=qint(request, "memswap") or 0,
        cpu_shares=qint(request, "cpushares") or 0,
        cpuset_cpus=q.get("cpusetcpus", ""),
        cpuset_mems=q.get("cpusetmems", ""),
        cpu_period=qint(request, "cpuperiod") or 0,
        cpu_quota=qint(request, "cpuquota") or 0,
        cgroup_parent=q.get("cgroupparent", ""),
        isolation=q.get("isolation", ""),
        security_opt=q.getall("securityopt", []),
        platform=parse_platform(q.get("platform", "")),
        remote=q.get("remote", ""),
    )
    if options.network_mode == "default":
        options.network_mode = ""
    _build_args(request, options)
    _labels(request, options)
    _ulimits(request, options)
    cache_from = _json_query(request, "cachefrom", "cache from")
    options.cache_from.extend(str(c) for c in cache_from or [])
    for host, auth in registry_config(request).items():
        options.registry_auths[host].CopyFrom(auth)
    return options


async def build(request: web.Request) -> web.StreamResponse:
    options = build_options(request)

    data_field = ipb.BuildRequest.DESCRIPTOR.fields_by_name["data"].number
    call = backends(request).uploads.build(
        encoded_body(request, ipb.BuildRequest(options=options), data_field)
    )
    return await stream_progress(request, call)


# Go's strconv.Atoi: an optional sign and decimal digits, nothing else.
_ATOI_RE = re.compile(r"^[+-]?[0-9]+$")


def _bytes_param(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "")
    if raw == "":
        return 0
    if not _ATOI_RE.match(raw):
        raise bad_request(
            f"{name} is in bytes and expects an integer, got {raw}: "
            f'strconv.Atoi: parsing "{raw}": invalid syntax'
        )
    return int(raw)


def _keep_storage(request: web.Request) -> int:
    """dockerd's: keep-storage until 1.48, then reserved-space (keep-storage
    when that is 0). max-used-space and min-free-space (1.48) have no
    counterpart here: hangu speaks 1.47 at most."""
    if versions.less_than(api_version(request), "1.48"):
        return _bytes_param(request, "keep-storage")
    return _bytes_param(request, "reserved-space") or _bytes_param(request, "keep-storage")


async def _in_use(request: web.Request) -> list[str]:
    """The images containers use, which the build cache must keep."""
    found = await backends(request).container.List(cpb.ListContainersRequest(all=True))
    return sorted({c.image_id for c in found.containers if c.image_id})


async def build_prune(request: web.Request) -> web.StreamResponse:
    # `all` is read as dockerd reads it and changes nothing: what a plain
    # prune leaves is in use or an ancestor of an image that stays.
    qbool(request, "all")
    req = ipb.PruneBuildCacheRequest(
        in_use_image_ids=await _in_use(request), keep_storage=_keep_storage(request)
    )
    fill_filters(req.filters, filters(request))
    resp = await backends(request).image.PruneBuildCache(req)
    return json_response(
        {"CachesDeleted": list(resp.caches_deleted) or None, "SpaceReclaimed": resp.space_reclaimed}
    )


def cache_record_json(record: ipb.BuildCacheRecord, api: str) -> dict[str, Any]:
    """moby's build.CacheRecord: Parent (one id) before 1.42, Parents
    after, either left out when empty; LastUsedAt null when unknown."""
    out: dict[str, Any] = {"ID": record.id}
    if record.parent:
        if versions.less_than(api, "1.42"):
            out["Parent"] = record.parent
        else:
            out["Parents"] = [record.parent]
    out.update(
        {
            "Type": record.type,
            "Description": record.description,
            "InUse": record.in_use,
            "Shared": record.shared,
            "Size": record.size,
            "CreatedAt": rfc3339(record.created_at),
            "LastUsedAt": (
                rfc3339(record.last_used_at) if record.HasField("last_used_at") else None
            ),
            "UsageCount": record.usage_count,
        }
    )
    return out


async def build_cache_rows(request: web.Request) -> list[dict[str, Any]] | None:
    """/system/df's BuildCache: null when there is none, as dockerd's."""
    resp = await backends(request).image.BuildCacheUsage(
        ipb.BuildCacheUsageRequest(in_use_image_ids=await _in_use(request))
    )
    api = api_version(request)
    return [cache_record_json(r, api) for r in resp.records] or None


ROUTES = [
    ("POST", "/build", build),
    ("POST", "/build/prune", build_prune),
]
