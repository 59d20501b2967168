"""gRPC adapter of the container service: protobuf messages in (through
converters.py), one call of the domain (lifecycle.py, streams.py, execs.py,
listing.py, archive.py), protobuf messages out. No logic of its own."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import grpc

from hangu.container.v1 import container_pb2 as pb
from hangu.container.v1 import container_pb2_grpc as pb_grpc
from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime.events import serve_events
from hangu_runtime.filters import plain

from . import archive, converters, listing
from .execs import Execs
from .lifecycle import Lifecycle
from .model import PathStat
from .sessions import pump_input
from .streams import Streams


def _stopped(context: grpc.ServicerContext) -> threading.Event:
    """An event set once the client has gone (or the call has ended)."""
    stop = threading.Event()
    context.add_callback(stop.set)
    return stop


class ContainerServicer(pb_grpc.ContainerServiceServicer):
    def __init__(self, lifecycle: Lifecycle, streams: Streams, execs: Execs) -> None:
        self.lc = lifecycle
        self.streams = streams
        self.execs = execs

    # ---- metadata

    def Create(
        self, request: pb.CreateContainerRequest, context: grpc.ServicerContext
    ) -> pb.Container:
        live = self.lc.create(converters.create_request(request))
        return converters.container_to_pb(listing.view(live))

    def Get(self, request: pb.GetContainerRequest, context: grpc.ServicerContext) -> pb.Container:
        live = self.lc.registry.lookup(request.reference)
        view = listing.view(live, request.size)
        view.exec_ids = self.execs.active(live.id)
        return converters.container_to_pb(view)

    def List(
        self, request: pb.ListContainersRequest, context: grpc.ServicerContext
    ) -> pb.ListContainersResponse:
        lives = listing.select(self.lc.registry, request.all, request.limit, plain(request.filters))
        return pb.ListContainersResponse(
            containers=[converters.container_to_pb(listing.view(x, request.size)) for x in lives]
        )

    def Remove(
        self, request: pb.RemoveContainerRequest, context: grpc.ServicerContext
    ) -> pb.RemoveContainerResponse:
        if request.remove_link:
            self.lc.remove_link(request.reference)
        else:
            self.lc.remove(request.reference, request.force, request.remove_volumes)
        return pb.RemoveContainerResponse()

    def Rename(
        self, request: pb.RenameContainerRequest, context: grpc.ServicerContext
    ) -> pb.RenameContainerResponse:
        self.lc.rename(request.reference, request.new_name)
        return pb.RenameContainerResponse()

    def Update(
        self, request: pb.UpdateContainerRequest, context: grpc.ServicerContext
    ) -> pb.UpdateContainerResponse:
        policy = (
            converters.restart_policy_from_pb(request.restart_policy)
            if request.HasField("restart_policy")
            else None
        )
        resources = converters.host_config_from_pb(request.resources)
        return pb.UpdateContainerResponse(
            warnings=self.lc.update(request.reference, resources, policy)
        )

    def ConnectNetwork(
        self, request: pb.ConnectNetworkRequest, context: grpc.ServicerContext
    ) -> pb.ConnectNetworkResponse:
        ep = converters.endpoint_config_from_pb(request.endpoint)
        self.lc.connect_network(request.id, request.network, ep)
        return pb.ConnectNetworkResponse()

    def DisconnectNetwork(
        self, request: pb.DisconnectNetworkRequest, context: grpc.ServicerContext
    ) -> pb.DisconnectNetworkResponse:
        self.lc.disconnect_network(request.id, request.network, request.force)
        return pb.DisconnectNetworkResponse()

    def Prune(
        self, request: pb.PruneContainersRequest, context: grpc.ServicerContext
    ) -> pb.PruneContainersResponse:
        return pb.PruneContainersResponse(deleted=listing.prune(self.lc, plain(request.filters)))

    # ---- lifecycle

    def Start(
        self, request: pb.StartContainerRequest, context: grpc.ServicerContext
    ) -> pb.StartContainerResponse:
        return pb.StartContainerResponse(not_modified=self.lc.start(request.reference))

    def Stop(
        self, request: pb.StopContainerRequest, context: grpc.ServicerContext
    ) -> pb.StopContainerResponse:
        timeout = request.timeout if request.HasField("timeout") else None
        return pb.StopContainerResponse(
            not_modified=self.lc.stop(request.reference, request.signal, timeout)
        )

    def Restart(
        self, request: pb.RestartContainerRequest, context: grpc.ServicerContext
    ) -> pb.RestartContainerResponse:
        timeout = request.timeout if request.HasField("timeout") else None
        self.lc.restart(request.reference, request.signal, timeout)
        return pb.RestartContainerResponse()

    def Kill(
        self, request: pb.KillContainerRequest, context: grpc.ServicerContext
    ) -> pb.KillContainerResponse:
        self.lc.kill(request.reference, request.signal)
        return pb.KillContainerResponse()

    def Pause(
        self, request: pb.PauseContainerRequest, context: grpc.ServicerContext
    ) -> pb.PauseContainerResponse:
        self.lc.pause(request.reference)
        return pb.PauseContainerResponse()

    def Unpause(
        self, request: pb.UnpauseContainerRequest, context: grpc.ServicerContext
    ) -> pb.UnpauseContainerResponse:
        self.lc.unpause(request.reference)
        return pb.UnpauseContainerResponse()

    def Wait(
        self, request: pb.WaitContainerRequest, context: grpc.ServicerContext
    ) -> pb.WaitContainerResponse:
        cancelled = threading.Event()
        context.add_callback(lambda: self.lc.cancel_wait(cancelled))
        code, error = self.lc.wait(request.reference, request.condition, cancelled)
        return pb.WaitContainerResponse(status_code=code, error=error)

    # ---- I/O

    def Attach(
        self, request_iterator: Iterator[pb.AttachRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.OutputChunk]:
        first = next(request_iterator)
        live, session = self.streams.attach(first.reference, converters.attach_options(first))
        pump_input(
            session,
            (converters.client_input(r) for r in request_iterator),
            lambda h, w: self.lc.resize(live.id, h, w),
            "attach-in",
        )
        context.add_callback(lambda: self.streams.detach(live, session))
        yield pb.OutputChunk(attached=True)
        for item in session.items():
            yield converters.output_chunk(item)

    def Resize(self, request: pb.ResizeRequest, context: grpc.ServicerContext) -> pb.ResizeResponse:
        self.lc.resize(request.reference, request.size.height, request.size.width)
        return pb.ResizeResponse()

    def Logs(
        self, request: pb.LogsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.OutputChunk]:
        entries = self.streams.logs(
            request.reference, converters.log_query(request), request.follow, _stopped(context)
        )
        for entry in entries:
            yield converters.log_chunk(entry)

    # ---- observation

    def Top(self, request: pb.TopRequest, context: grpc.ServicerContext) -> pb.TopResponse:
        titles, rows = listing.top(self.lc, request.reference, request.ps_args)
        return pb.TopResponse(titles=titles, processes=[tpb.StringList(values=r) for r in rows])

    def Events(
        self, request: tpb.EventsRequest, context: grpc.ServicerContext
    ) -> Iterator[tpb.Event]:
        return serve_events(self.lc.events, request, context)

    def Stats(
        self, request: pb.StatsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.StatsSample]:
        for sample in self.streams.stats(request.reference, request.stream, _stopped(context)):
            yield converters.stats_to_pb(sample)

    # ---- files

    def GetArchive(
        self, request: pb.GetArchiveRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.GetArchiveResponse]:
        for item in archive.archive_get(self.lc, request.reference, request.path):
            if isinstance(item, PathStat):
                yield pb.GetArchiveResponse(stat=converters.path_stat_to_pb(item))
            else:
                yield pb.GetArchiveResponse(data=item)

    def PutArchive(
        self, request_iterator: Iterator[pb.PutArchiveRequest], context: grpc.ServicerContext
    ) -> pb.PutArchiveResponse:
        first = next(request_iterator)
        chunks = (r.data for r in itertools.chain([first], request_iterator) if r.data)
        archive.archive_put(
            self.lc, first.reference, first.path, chunks, first.no_overwrite_dir_non_dir
        )
        return pb.PutArchiveResponse()

    # ---- exec

    def CreateExec(
        self, request: pb.CreateExecRequest, context: grpc.ServicerContext
    ) -> pb.CreateExecResponse:
        record = self.execs.create(converters.exec_config_from_pb(request))
        return pb.CreateExecResponse(id=record.id)

    def GetExec(self, request: pb.GetExecRequest, context: grpc.ServicerContext) -> pb.Exec:
        return converters.exec_to_pb(self.execs.get(request.exec_id))

    def ResizeExec(
        self, request: pb.ResizeExecRequest, context: grpc.ServicerContext
    ) -> pb.ResizeExecResponse:
        self.execs.resize(request.exec_id, request.size.height, request.size.width)
        return pb.ResizeExecResponse()

    def StartExec(
        self, request_iterator: Iterator[pb.StartExecRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.OutputChunk]:
        first = next(request_iterator)
        exec_id, size = first.exec_id, converters.terminal_size(first)
        if first.detach:
            self.execs.start(exec_id, first.tty, size, None)
            return
        session = self.execs.session(exec_id, first.tty)
        context.add_callback(session.close)
        self.execs.start(exec_id, first.tty, size, session)
        yield pb.OutputChunk()  # the process runs: the client may send stdin now
        pump_input(
            session,
            (converters.client_input(r) for r in request_iterator),
            lambda h, w: self.execs.resize(exec_id, h, w),
            "exec-in",
        )
        for item in session.items():
            yield converters.output_chunk(item)
