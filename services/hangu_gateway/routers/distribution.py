"""Registry-facing endpoints: POST /auth (docker login) and
GET /distribution/{name}/json (manifest descriptor and platforms)."""

from __future__ import annotations

from aiohttp import web

from hangu.image.v1 import image_pb2 as ipb

from ..errors import bad_request
from ..keys import backends
from .common import json_body, json_response
from .images import registry_auth


async def auth(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request("invalid JSON: expected an object")
    resp = await backends(request).image.Login(
        ipb.LoginRequest(
            auth=ipb.RegistryAuth(
                username=body.get("username") or "",
                password=body.get("password") or "",
                server_address=body.get("serveraddress") or "",
                identity_token=body.get("identitytoken") or "",
                registry_token=body.get("registrytoken") or "",
            )
        )
    )
    return json_response(
        {"Status": resp.status or "Login Succeeded", "IdentityToken": resp.identity_token}
    )


async def distribution(request: web.Request) -> web.StreamResponse:
    resp = await backends(request).image.DistributionInspect(
        ipb.DistributionInspectRequest(
            reference=request.match_info["name"], auth=registry_auth(request)
        )
    )
    platforms = []
    for p in resp.platforms:
        item = {"architecture": p.architecture, "os": p.os}
        if p.variant:
            item["variant"] = p.variant
        platforms.append(item)
    return json_response(
        {
            "Descriptor": {"mediaType": resp.media_type, "digest": resp.digest, "size": resp.size},
            "Platforms": platforms,
        }
    )


ROUTES = [
    ("POST", "/auth", auth),
    ("GET", "/distribution/{name:.+}/json", distribution),
]
