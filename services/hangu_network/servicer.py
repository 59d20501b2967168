"""gRPC adapter of the network service: translates protobuf messages to the
domain (networks.py, sandboxes.py) and back. No logic of its own."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc

from hangu.network.v1 import network_pb2 as pb
from hangu.network.v1 import network_pb2_grpc as pb_grpc
from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime.events import serve_events
from hangu_runtime.filters import plain
from hangu_runtime.times import timestamp_from_seconds

from .attachments import AttachmentView, EndpointSpec, is_unresolved
from .models import EndpointRow, NetworkRow
from .networks import Networks
from .ports import PortRequest
from .sandboxes import LiveAttachment, Sandboxes, SandboxSpec, SandboxView
from .specs import NetworkSpec, PoolSpec


def endpoint_pb(ep: EndpointRow, net: NetworkRow, container_name: str = "") -> pb.Endpoint:
    return pb.Endpoint(
        endpoint_id=ep.id,
        network_id=net.id,
        network_name=net.name,
        container_id=ep.container_id,
        container_name=container_name,
        ipv4_address=ep.ipv4_address,
        ipv4_prefix_len=ep.prefix_len,
        gateway=ep.gateway,
        ipv6_address=ep.ipv6_address,
        ipv6_prefix_len=ep.ipv6_prefix_len,
        ipv6_gateway=ep.ipv6_gateway,
        mac_address=ep.mac_address,
        aliases=ep.aliases,
        interface_name=ep.ifname,
    )


def attachment_pb(item: LiveAttachment, container_name: str) -> pb.Endpoint:
    """An attachment as inspect shows it: what was asked for, and the live
    endpoint's addresses while the sandbox runs."""
    att, net, ep = item.attachment, item.network, item.endpoint
    msg = pb.Endpoint(
        # (no id yet for a network named at create that does not exist)
        network_id="" if is_unresolved(att.network_id) else att.network_id,
        network_name=net.name if net is not None else att.network_name,
        container_id=att.container_id,
        container_name=container_name,
        aliases=att.aliases,
        links=att.links,
        driver_opts=att.driver_opts,
        mac_address=att.mac_address,
        gw_priority=att.gw_priority,
        ipam_config=pb.EndpointIPAMConfig(
            ipv4_address=att.ipv4_address,
            ipv6_address=att.ipv6_address,
            link_local_ips=att.link_local_ips,
        ),
    )
    if net is not None and net.driver == "bridge" and not net.predefined:
        # moby's DNSNames: name, aliases, short id (user networks only).
        msg.dns_names.extend(
            dict.fromkeys([container_name.lstrip("/"), *att.aliases, att.container_id[:12]])
        )
    if ep is not None:
        msg.endpoint_id = ep.id
        msg.ipv4_address = ep.ipv4_address
        msg.ipv4_prefix_len = ep.prefix_len
        msg.gateway = ep.gateway
        msg.mac_address = ep.mac_address
        msg.ipv6_address = ep.ipv6_address
        msg.ipv6_prefix_len = ep.ipv6_prefix_len
        msg.ipv6_gateway = ep.ipv6_gateway
        msg.interface_name = ep.ifname
        msg.active = True
    return msg


def attachments_pb(view: AttachmentView, items: list[LiveAttachment]) -> pb.Attachments:
    name = view.member.container_name
    return pb.Attachments(
        container_id=view.member.container_id,
        network_mode=view.member.network_mode,
        endpoints=[attachment_pb(i, name) for i in items],
    )


def network_pb(row: NetworkRow, endpoints: list[tuple[EndpointRow, str]]) -> pb.Network:
    config = [
        pb.IPAMConfig(
            subnet=c.subnet,
            gateway=c.gateway,
            gateway_implied=c.gateway_implied,
            ip_range=c.ip_range,
            aux_addresses=c.aux_addresses,
        )
        for c in row.ipam_configs()
    ]
    return pb.Network(
        id=row.id,
        name=row.name,
        created=timestamp_from_seconds(row.created),
        scope="local",
        driver=row.driver,
        enable_ipv6=row.enable_ipv6,
        internal=row.internal,
        attachable=row.attachable,
        ipam=pb.IPAM(
            driver=row.ipam_driver or "default",
            config=config,
            options=json.loads(row.ipam_options_json),
        ),
        options=row.options,
        labels=row.labels,
        bridge_name=row.bridge,
        config_only=row.config_only,
        config_from=row.config_from,
        containers={ep.container_id: endpoint_pb(ep, row, name) for ep, name in endpoints},
    )


def sandbox_pb(
    view: SandboxView, key: str, attachments: pb.Attachments | None = None
) -> pb.Sandbox:
    return pb.Sandbox(
        attachments=attachments,
        sandbox_key=key,
        container_id=view.row.container_id,
        netns_path=view.row.netns_path,
        hosts_path=view.hosts_path,
        hostname_path=view.hostname_path,
        resolv_conf_path=view.resolv_conf_path,
        network_mode=view.row.network_mode,
        endpoints=[endpoint_pb(ep, net, view.row.container_name) for ep, net in view.endpoints],
        ports=[
            pb.PortMapping(
                protocol=r.protocol,
                container_port=r.container_port,
                host_ip=r.host_ip,
                host_port=r.host_port,
            )
            for r in view.ports
        ],
    )


def _endpoint_spec(req: pb.EndpointRequest) -> EndpointSpec:
    return EndpointSpec(
        network=req.network,
        aliases=list(req.aliases),
        ipv4_address=req.ipv4_address,
        ipv6_address=req.ipv6_address,
        mac_address=req.mac_address,
        links=list(req.links),
        driver_opts=dict(req.driver_opts),
        link_local_ips=list(req.link_local_ips),
        gw_priority=req.gw_priority,
    )


class NetworkServicer(pb_grpc.NetworkServiceServicer):
    def __init__(self, networks: Networks, sandboxes: Sandboxes) -> None:
        self.networks = networks
        self.sandboxes = sandboxes

    def Create(self, request: pb.CreateNetworkRequest, context: grpc.ServicerContext) -> pb.Network:
        row = self.networks.create(
            NetworkSpec(
                name=request.name,
                driver=request.driver,
                internal=request.internal,
                attachable=request.attachable,
                enable_ipv6=request.enable_ipv6,
                pools=[
                    PoolSpec(c.subnet, c.gateway, c.ip_range, dict(c.aux_addresses))
                    for c in request.ipam.config
                ],
                ipam_driver=request.ipam.driver,
                ipam_options=dict(request.ipam.options),
                options=dict(request.options),
                labels=dict(request.labels),
                config_only=request.config_only,
                config_from=request.config_from,
            )
        )
        return network_pb(row, [])

    def Get(self, request: pb.GetNetworkRequest, context: grpc.ServicerContext) -> pb.Network:
        row = self.networks.get(request.reference)
        return network_pb(row, self.networks.endpoints(row.id))

    def List(
        self, request: pb.ListNetworksRequest, context: grpc.ServicerContext
    ) -> pb.ListNetworksResponse:
        rows = self.networks.matching(plain(request.filters))
        return pb.ListNetworksResponse(
            networks=[network_pb(r, self.networks.endpoints(r.id)) for r in rows]
        )

    def Remove(
        self, request: pb.RemoveNetworkRequest, context: grpc.ServicerContext
    ) -> pb.RemoveNetworkResponse:
        self.networks.remove(request.reference)
        return pb.RemoveNetworkResponse()

    def Prune(
        self, request: pb.PruneNetworksRequest, context: grpc.ServicerContext
    ) -> pb.PruneNetworksResponse:
        return pb.PruneNetworksResponse(deleted=self.networks.prune(plain(request.filters)))

    def CreateSandbox(
        self, request: pb.CreateSandboxRequest, context: grpc.ServicerContext
    ) -> pb.Sandbox:
        view = self.sandboxes.create(
            SandboxSpec(
                container_id=request.container_id,
                container_name=request.container_name,
                hostname=request.hostname,
                domainname=request.domainname,
                network_mode=request.network_mode,
                endpoints=[_endpoint_spec(e) for e in request.endpoints],
                dns=list(request.dns),
                dns_search=list(request.dns_search),
                dns_options=list(request.dns_options),
                extra_hosts=list(request.extra_hosts),
                ports=[
                    PortRequest(
                        protocol=p.protocol,
                        container_port=p.container_port,
                        host_ip=p.host_ip,
                        host_port=p.host_port,
                        host_port_end=p.host_port_end,
                    )
                    for p in request.ports
                ],
            )
        )
        key = self.sandboxes.key(view.row)
        return sandbox_pb(view, key, self._attachments(request.container_id))

    def GetSandbox(
        self, request: pb.GetSandboxRequest, context: grpc.ServicerContext
    ) -> pb.Sandbox:
        view = self.sandboxes.get(request.container_id)
        return sandbox_pb(view, self.sandboxes.key(view.row))

    def RemoveSandbox(
        self, request: pb.RemoveSandboxRequest, context: grpc.ServicerContext
    ) -> pb.RemoveSandboxResponse:
        self.sandboxes.remove(request.container_id)
        if self.sandboxes.attachments.find(request.container_id) is None:
            return pb.RemoveSandboxResponse()
        return pb.RemoveSandboxResponse(attachments=self._attachments(request.container_id))

    def _attachments(self, container_id: str) -> pb.Attachments:
        view, items = self.sandboxes.attached(container_id)
        return attachments_pb(view, items)

    def Attach(self, request: pb.AttachRequest, context: grpc.ServicerContext) -> pb.Attachments:
        self.sandboxes.attachments.attach(
            request.container_id,
            request.container_name,
            request.network_mode,
            [_endpoint_spec(e) for e in request.endpoints],
        )
        return self._attachments(request.container_id)

    def GetAttachments(
        self, request: pb.GetAttachmentsRequest, context: grpc.ServicerContext
    ) -> pb.Attachments:
        return self._attachments(request.container_id)

    def Detach(self, request: pb.DetachRequest, context: grpc.ServicerContext) -> pb.DetachResponse:
        self.sandboxes.detach(request.container_id)
        return pb.DetachResponse()

    def Rename(self, request: pb.RenameRequest, context: grpc.ServicerContext) -> pb.RenameResponse:
        self.sandboxes.rename(request.container_id, request.container_name)
        return pb.RenameResponse()

    def Connect(
        self, request: pb.ConnectRequest, context: grpc.ServicerContext
    ) -> pb.ConnectResponse:
        done = self.sandboxes.connect(request.container_id, _endpoint_spec(request.endpoint))
        return pb.ConnectResponse(
            endpoint=attachment_pb(done.new, done.view.member.container_name),
            attachments=attachments_pb(done.view, done.items),
        )

    def Disconnect(
        self, request: pb.DisconnectRequest, context: grpc.ServicerContext
    ) -> pb.DisconnectResponse:
        view, items = self.sandboxes.disconnect(request.container_id, request.network)
        return pb.DisconnectResponse(attachments=attachments_pb(view, items))

    def Events(
        self, request: tpb.EventsRequest, context: grpc.ServicerContext
    ) -> Iterator[tpb.Event]:
        return serve_events(self.networks.events, request, context)
