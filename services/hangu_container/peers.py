"""The container service's view of its peers: small clients over the image,
network and volume services' gRPC APIs. Errors come back as HanguError with
their code intact."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import grpc

from hangu.image.v1 import image_pb2, image_pb2_grpc
from hangu.network.v1 import network_pb2, network_pb2_grpc
from hangu.volume.v1 import volume_pb2, volume_pb2_grpc
from hangu_runtime.clients import call_peer, peer_channel
from hangu_runtime.config import Settings
from hangu_runtime.errors import NotFound


class ImageClient:
    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = image_pb2_grpc.ImageServiceStub(channel)

    def get(self, reference: str) -> image_pb2.Image:
        try:
            return call_peer(self.stub.Get, image_pb2.GetImageRequest(reference=reference))
        except NotFound:
            raise NotFound(f"No such image: {reference}") from None

    def prepare_rootfs(self, cid: str, image_id: str) -> image_pb2.Rootfs:
        return call_peer(
            self.stub.PrepareRootfs,
            image_pb2.PrepareRootfsRequest(container_id=cid, image_id=image_id),
        )

    def mount_rootfs(self, cid: str) -> str:
        return call_peer(self.stub.MountRootfs, image_pb2.MountRootfsRequest(container_id=cid)).path

    def unmount_rootfs(self, cid: str) -> None:
        call_peer(self.stub.UnmountRootfs, image_pb2.UnmountRootfsRequest(container_id=cid))

    def remove_rootfs(self, cid: str) -> None:
        call_peer(self.stub.RemoveRootfs, image_pb2.RemoveRootfsRequest(container_id=cid))


@dataclass
class EndpointRequest:
    """One network of a container, as EndpointsConfig or connect asks."""

    network: str
    aliases: list[str] = field(default_factory=list)
    ipv4_address: str = ""
    ipv6_address: str = ""
    mac_address: str = ""
    links: list[str] = field(default_factory=list)
    driver_opts: dict[str, str] = field(default_factory=dict)
    link_local_ips: list[str] = field(default_factory=list)
    gw_priority: int = 0

    def to_pb(self) -> network_pb2.EndpointRequest:
        return network_pb2.EndpointRequest(
            network=self.network,
            aliases=self.aliases,
            ipv4_address=self.ipv4_address,
            ipv6_address=self.ipv6_address,
            mac_address=self.mac_address,
            links=self.links,
            driver_opts=self.driver_opts,
            link_local_ips=self.link_local_ips,
            gw_priority=self.gw_priority,
        )


@dataclass
class SandboxRequest:
    container_id: str
    container_name: str
    hostname: str
    domainname: str = ""
    network_mode: str = ""
    endpoints: list[EndpointRequest] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    # proto, container port, host ip, host port, last host port of a range (0: one)
    ports: list[tuple[str, int, str, int, int]] = field(default_factory=list)


class NetworkClient:
    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = network_pb2_grpc.NetworkServiceStub(channel)

    def create_sandbox(self, req: SandboxRequest) -> network_pb2.Sandbox:
        msg = network_pb2.CreateSandboxRequest(
            container_id=req.container_id,
            container_name=req.container_name,
            hostname=req.hostname,
            domainname=req.domainname,
            network_mode=req.network_mode,
            endpoints=[e.to_pb() for e in req.endpoints],
            dns=req.dns,
            dns_search=req.dns_search,
            dns_options=req.dns_options,
            extra_hosts=req.extra_hosts,
            ports=[
                network_pb2.PortMapping(
                    protocol=p, container_port=c, host_ip=hip, host_port=hp, host_port_end=end
                )
                for p, c, hip, hp, end in req.ports
            ],
        )
        return call_peer(self.stub.CreateSandbox, msg)

    def remove_sandbox(self, cid: str) -> network_pb2.Attachments | None:
        """The attachments as they stand once stopped (None: unknown)."""
        try:
            resp = call_peer(
                self.stub.RemoveSandbox, network_pb2.RemoveSandboxRequest(container_id=cid)
            )
        except NotFound:
            return None
        return resp.attachments if resp.HasField("attachments") else None

    def attach(
        self, cid: str, name: str, mode: str, endpoints: list[EndpointRequest]
    ) -> network_pb2.Attachments:
        return call_peer(
            self.stub.Attach,
            network_pb2.AttachRequest(
                container_id=cid,
                container_name=name,
                network_mode=mode,
                endpoints=[e.to_pb() for e in endpoints],
            ),
        )

    def attachments(self, cid: str) -> network_pb2.Attachments:
        return call_peer(
            self.stub.GetAttachments, network_pb2.GetAttachmentsRequest(container_id=cid)
        )

    def detach(self, cid: str) -> None:
        call_peer(self.stub.Detach, network_pb2.DetachRequest(container_id=cid))

    def rename(self, cid: str, name: str) -> None:
        call_peer(
            self.stub.Rename, network_pb2.RenameRequest(container_id=cid, container_name=name)
        )

    def connect(self, cid: str, name: str, endpoint: EndpointRequest) -> network_pb2.Attachments:
        """Every attachment once this one is added."""
        resp = call_peer(
            self.stub.Connect,
            network_pb2.ConnectRequest(
                container_id=cid, container_name=name, endpoint=endpoint.to_pb()
            ),
        )
        return resp.attachments

    def disconnect(
        self, cid: str, network: str, force: bool = False
    ) -> network_pb2.Attachments | None:
        """Every attachment left (None: the network service does not know
        the container)."""
        resp = call_peer(
            self.stub.Disconnect,
            network_pb2.DisconnectRequest(container_id=cid, network=network, force=force),
        )
        return resp.attachments if resp.HasField("attachments") else None


class VolumeClient:
    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = volume_pb2_grpc.VolumeServiceStub(channel)

    def ensure(
        self,
        name: str,
        driver: str = "",
        labels: dict[str, str] | None = None,
        driver_opts: dict[str, str] | None = None,
    ) -> volume_pb2.Volume:
        """The named volume, created if missing; an empty name creates an
        anonymous one."""
        if name:
            try:
                return call_peer(self.stub.Get, volume_pb2.GetVolumeRequest(name=name))
            except NotFound:
                pass
        return call_peer(
            self.stub.Create,
            volume_pb2.CreateVolumeRequest(
                name=name, driver=driver, labels=labels or {}, driver_opts=driver_opts or {}
            ),
        )

    def mount(self, name: str, cid: str, copy_from: str = "") -> str:
        return call_peer(
            self.stub.Mount,
            volume_pb2.MountVolumeRequest(name=name, container_id=cid, copy_from=copy_from),
        ).path

    def unmount(self, name: str, cid: str) -> None:
        with contextlib.suppress(NotFound):
            call_peer(
                self.stub.Unmount, volume_pb2.UnmountVolumeRequest(name=name, container_id=cid)
            )

    def remove(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            call_peer(self.stub.Remove, volume_pb2.RemoveVolumeRequest(name=name))


class Peers:
    """The three peer clients, on channels from the settings' socket paths."""

    def __init__(self, settings: Settings) -> None:
        self.image = ImageClient(peer_channel(settings.grpc_target("image")))
        self.network = NetworkClient(peer_channel(settings.grpc_target("network")))
        self.volume = VolumeClient(peer_channel(settings.grpc_target("volume")))
