"""Networks area."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hangu.container.v1 import container_pb2 as cpb
from hangu.network.v1 import network_pb2 as npb
from hangu_runtime.times import rfc3339

from ..convert import endpoint_config
from ..errors import ApiError, bad_request
from ..keys import backends
from .common import fill_filters, filters, json_body, json_response, no_content


def network_json(n: npb.Network, containers: bool = True) -> dict[str, Any]:
    eps: dict[str, Any] = {}
    if containers:
        for cid, ep in n.containers.items():
            eps[cid] = {
                "Name": ep.container_name,
                "EndpointID": ep.endpoint_id,
                "MacAddress": ep.mac_address,
                "IPv4Address": (
                    f"{ep.ipv4_address}/{ep.ipv4_prefix_len}" if ep.ipv4_address else ""
                ),
                "IPv6Address": ep.ipv6_address,
            }
    return {
        "Name": n.name,
        "Id": n.id,
        "Created": rfc3339(n.created),
        "Scope": n.scope or "local",
        "Driver": n.driver,
        "EnableIPv4": True,
        "EnableIPv6": n.enable_ipv6,
        "IPAM": {
            "Driver": n.ipam.driver or "default",
            "Options": dict(n.ipam.options),  # dockerd: {} when there are none
            "Config": [_ipam_config(c) for c in n.ipam.config],
        },
        "Internal": n.internal,
        "Attachable": n.attachable,
        "Ingress": n.ingress,
        "ConfigFrom": {"Network": n.config_from},
        "ConfigOnly": n.config_only,
        "Containers": eps,
        "Options": dict(n.options),
        "Labels": dict(n.labels),
    }


def _ipam_config(c: npb.IPAMConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"Subnet": c.subnet}
    if c.gateway and not c.gateway_implied:
        out["Gateway"] = c.gateway
    if c.ip_range:
        out["IPRange"] = c.ip_range
    if c.aux_addresses:
        out["AuxiliaryAddresses"] = dict(c.aux_addresses)
    return out


async def list_networks(request: web.Request) -> web.StreamResponse:
    req = npb.ListNetworksRequest()
    fill_filters(req.filters, filters(request))
    resp = await backends(request).network.List(req)
    return json_response([network_json(n, containers=False) for n in resp.networks])


async def _get(request: web.Request, ref: str) -> npb.Network:
    return await backends(request).network.Get(npb.GetNetworkRequest(reference=ref))


async def inspect(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    n = await _get(request, ref)
    scope = request.query.get("scope", "")
    if scope and scope != (n.scope or "local"):
        # dockerd looks the network up in that scope only
        raise ApiError(404, f"network {ref} not found")
    return json_response(network_json(n))


async def create(request: web.Request) -> web.StreamResponse:
    body = await json_body(request)
    if not body.get("Name"):
        raise bad_request("network name is required")
    ipam = body.get("IPAM") or {}
    req = npb.CreateNetworkRequest(
        name=body["Name"],
        driver=body.get("Driver") or "bridge",
        internal=bool(body.get("Internal")),
        attachable=bool(body.get("Attachable")),
        enable_ipv6=bool(body.get("EnableIPv6")),
        options=body.get("Options") or {},
        labels=body.get("Labels") or {},
        check_duplicate=bool(body.get("CheckDuplicate", True)),
        config_only=bool(body.get("ConfigOnly")),
        config_from=str(_object(body.get("ConfigFrom") or {}).get("Network") or ""),
        ipam=npb.IPAM(
            driver=ipam.get("Driver") or "",
            options=ipam.get("Options") or {},
            config=[
                npb.IPAMConfig(
                    subnet=c.get("Subnet") or "",
                    ip_range=c.get("IPRange") or "",
                    gateway=c.get("Gateway") or "",
                    aux_addresses=c.get("AuxiliaryAddresses") or {},
                )
                for c in ipam.get("Config") or []
            ],
        ),
    )
    if body.get("Ingress") or body.get("Scope") == "swarm":
        raise bad_request("swarm-scoped and ingress networks are not supported")
    n = await backends(request).network.Create(req)
    return json_response({"Id": n.id, "Warning": ""}, status=201)


async def remove(request: web.Request) -> web.StreamResponse:
    await backends(request).network.Remove(
        npb.RemoveNetworkRequest(reference=request.match_info["id"])
    )
    return no_content()


async def connect(request: web.Request) -> web.StreamResponse:
    body = _object(await json_body(request))
    await backends(request).container.ConnectNetwork(
        cpb.ConnectNetworkRequest(
            id=str(body.get("Container") or ""),
            network=request.match_info["id"],
            endpoint=endpoint_config(body.get("EndpointConfig")),
        )
    )
    return web.Response(status=200)


async def disconnect(request: web.Request) -> web.StreamResponse:
    body = _object(await json_body(request))
    await backends(request).container.DisconnectNetwork(
        cpb.DisconnectNetworkRequest(
            id=str(body.get("Container") or ""),
            network=request.match_info["id"],
            force=bool(body.get("Force")),
        )
    )
    return web.Response(status=200)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("invalid JSON: expected an object")
    return body


async def prune(request: web.Request) -> web.StreamResponse:
    req = npb.PruneNetworksRequest()
    fill_filters(req.filters, filters(request))
    resp = await backends(request).network.Prune(req)
    return json_response({"NetworksDeleted": list(resp.deleted) or None})


ROUTES = [
    ("GET", "/networks", list_networks),
    ("POST", "/networks/create", create),
    ("POST", "/networks/prune", prune),
    ("GET", "/networks/{id}", inspect),
    ("DELETE", "/networks/{id}", remove),
    ("POST", "/networks/{id}/connect", connect),
    ("POST", "/networks/{id}/disconnect", disconnect),
]
