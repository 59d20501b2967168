"""A container's networks as the container service sees them: the endpoint
requests its create and `network connect` send to the network service, and
the attachments that service reports back, kept for inspect and `ps`."""

from __future__ import annotations

from collections.abc import Callable

from hangu.network.v1 import network_pb2
from hangu_runtime.errors import InvalidArgument

from .model import (
    ContainerConfig,
    EndpointConfig,
    EndpointSettings,
    HostConfig,
    NetworkingConfig,
)
from .peers import EndpointRequest


def endpoint_request(network: str, ep: EndpointConfig) -> EndpointRequest:
    return EndpointRequest(
        # The docker CLI keys the endpoint of the default bridge "default".
        network="bridge" if network == "default" else network,
        aliases=list(ep.aliases),
        ipv4_address=ep.ipv4_address,
        ipv6_address=ep.ipv6_address,
        mac_address=ep.mac_address,
        links=list(ep.links),
        driver_opts=dict(ep.driver_opts),
        link_local_ips=list(ep.link_local_ips),
        gw_priority=ep.gw_priority,
    )


def endpoint_requests(hc: HostConfig, nc: NetworkingConfig) -> list[EndpointRequest]:
    """Every EndpointsConfig entry; `--link` (HostConfig.Links, legacy links
    of the default bridge) goes with the network of the network mode."""
    out = [endpoint_request(name, ep) for name, ep in nc.endpoints_config.items()]
    if hc.links:
        mode = "bridge" if hc.network_mode in ("", "default") else hc.network_mode
        primary = next((r for r in out if r.network == mode), None)
        if primary is None:
            primary = EndpointRequest(network=mode)
            out.insert(0, primary)
        primary.links = list(dict.fromkeys([*primary.links, *hc.links]))
    return out


def endpoint_settings(ep: network_pb2.Endpoint) -> EndpointSettings:
    asked = ep.ipam_config
    return EndpointSettings(
        network_name=ep.network_name,
        network_id=ep.network_id,
        endpoint_id=ep.endpoint_id,
        gateway=ep.gateway,
        ip_address=ep.ipv4_address,
        ip_prefix_len=ep.ipv4_prefix_len,
        ipv6_gateway=ep.ipv6_gateway,
        global_ipv6_address=ep.ipv6_address,
        global_ipv6_prefix_len=ep.ipv6_prefix_len,
        mac_address=ep.mac_address,
        aliases=list(ep.aliases),
        dns_names=list(ep.dns_names),
        links=list(ep.links),
        driver_opts=dict(ep.driver_opts),
        gw_priority=ep.gw_priority,
        ipam_config=EndpointConfig(
            ipv4_address=asked.ipv4_address,
            ipv6_address=asked.ipv6_address,
            link_local_ips=list(asked.link_local_ips),
        ),
    )


def networks_from(attachments: network_pb2.Attachments) -> dict[str, EndpointSettings]:
    """NetworkSettings.Networks, keyed by network name as Docker keys it."""
    return {ep.network_name: endpoint_settings(ep) for ep in attachments.endpoints}


def check_network_mode(cfg: ContainerConfig, hc: HostConfig) -> None:
    """What dockerd refuses for `container:<x>` and `host` modes at create,
    on the config as the client sent it (before the image's is merged):
    moby's runconfig errors, word for word (all "invalid parameter": 400)."""
    mode = hc.network_mode
    if mode == "host" and cfg.mac_address:
        raise InvalidArgument("conflicting options: mac-address and the network mode")
    if not mode.startswith("container:"):
        return
    # Options that a shared network namespace makes meaningless.
    conflicts = (
        (cfg.hostname, "conflicting options: hostname and the network mode"),
        (
            hc.links,
            "conflicting options: container type network can't be used with links. "
            "This would result in undefined behavior",
        ),
        (hc.dns, "conflicting options: dns and the network mode"),
        (hc.extra_hosts, "conflicting options: custom host-to-IP mapping and the network mode"),
        (cfg.mac_address, "conflicting options: mac-address and the network mode"),
        (
            hc.port_bindings or hc.publish_all_ports,
            "conflicting options: port publishing and the container type network mode",
        ),
        (
            cfg.exposed_ports,
            "conflicting options: port exposing and the container type network mode",
        ),
    )
    for given, message in conflicts:
        if given:
            raise InvalidArgument(message)


def check_links(hc: HostConfig, exists: Callable[[str], bool]) -> None:
    """Legacy links on the default bridge name containers that must exist
    at create (dockerd's registerLinks); on user networks a link is only a
    name, resolved at start."""
    if hc.network_mode not in ("", "default", "bridge"):
        return
    for link in hc.links:
        name = link.partition(":")[0].strip("/")
        if not exists(name):
            raise InvalidArgument(f"could not get container for {name}: No such container: {name}")
