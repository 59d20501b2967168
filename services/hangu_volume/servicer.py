"""gRPC adapter of the volume service: messages in, domain calls, messages
out. No logic of its own."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from hangu.types.v1 import types_pb2 as tpb
from hangu.volume.v1 import volume_pb2 as pb
from hangu.volume.v1 import volume_pb2_grpc as pb_grpc
from hangu_runtime.events import serve_events
from hangu_runtime.filters import plain
from hangu_runtime.times import timestamp_from_seconds

from .store import Volumes, VolumeView


def volume_pb(view: VolumeView) -> pb.Volume:
    row = view.row
    return pb.Volume(
        name=row.name,
        driver=row.driver,
        mountpoint=view.mountpoint,
        created=timestamp_from_seconds(row.created),
        labels=row.labels,
        options=row.options,
        scope="local",
        anonymous=row.anonymous,
        used_by=view.used_by,
        size=-1,
    )


class VolumeServicer(pb_grpc.VolumeServiceServicer):
    def __init__(self, volumes: Volumes) -> None:
        self.volumes = volumes

    def Create(self, request: pb.CreateVolumeRequest, context: grpc.ServicerContext) -> pb.Volume:
        return volume_pb(
            self.volumes.create(
                request.name, request.driver, dict(request.driver_opts), dict(request.labels)
            )
        )

    def Get(self, request: pb.GetVolumeRequest, context: grpc.ServicerContext) -> pb.Volume:
        return volume_pb(self.volumes.get(request.name))

    def List(
        self, request: pb.ListVolumesRequest, context: grpc.ServicerContext
    ) -> pb.ListVolumesResponse:
        return pb.ListVolumesResponse(
            volumes=[volume_pb(v) for v in self.volumes.matching(plain(request.filters))]
        )

    def Remove(
        self, request: pb.RemoveVolumeRequest, context: grpc.ServicerContext
    ) -> pb.RemoveVolumeResponse:
        self.volumes.remove(request.name, request.force)
        return pb.RemoveVolumeResponse()

    def Prune(
        self, request: pb.PruneVolumesRequest, context: grpc.ServicerContext
    ) -> pb.PruneVolumesResponse:
        deleted, reclaimed = self.volumes.prune(plain(request.filters))
        return pb.PruneVolumesResponse(deleted=deleted, space_reclaimed=reclaimed)

    def Mount(
        self, request: pb.MountVolumeRequest, context: grpc.ServicerContext
    ) -> pb.MountVolumeResponse:
        return pb.MountVolumeResponse(
            path=self.volumes.mount(request.name, request.container_id, request.copy_from)
        )

    def Unmount(
        self, request: pb.UnmountVolumeRequest, context: grpc.ServicerContext
    ) -> pb.UnmountVolumeResponse:
        self.volumes.unmount(request.name, request.container_id)
        return pb.UnmountVolumeResponse()

    def Events(
        self, request: tpb.EventsRequest, context: grpc.ServicerContext
    ) -> Iterator[tpb.Event]:
        return serve_events(self.volumes.events, request, context)
