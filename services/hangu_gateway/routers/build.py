"""POST /build: the classic builder's query translated into the image
service's Build call, the context streamed through as it arrives, the
build's messages streamed back."""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from hangu.image.v1 import image_pb2 as ipb

from ..errors import bad_request
from ..keys import backends
from .common import qbool, qint
from .images import body_chunks, parse_platform, stream_progress


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

    async def requests() -> AsyncIterator[ipb.BuildRequest]:
        yield ipb.BuildRequest(options=options)
        async for chunk in body_chunks(request):
            yield ipb.BuildRequest(data=chunk)

    call = backends(request).image.Build(requests())
    return await stream_progress(request, call)


ROUTES = [
    ("POST", "/build", build),
]
