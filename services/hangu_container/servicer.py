"""gRPC adapter of the container service: protobuf messages in, domain
calls (lifecycle.py, streams.py, listing.py), protobuf messages out."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from hangu.container.v1 import container_pb2 as pb
from hangu.container.v1 import container_pb2_grpc as pb_grpc
from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime.errors import HanguError
from hangu_runtime.events import serve_events

from . import archive, listing, logs, stats
from .creating import CreateRequest
from .execs import Execs
from .health import HealthChecks
from .lifecycle import Lifecycle
from .sessions import AttachSession, ClientInput, pump_input
from .streams import AttachOptions, Streams

_STREAMS = {"stdout": pb.OutputChunk.STDOUT, "stderr": pb.OutputChunk.STDERR}


def _ns(ts: Timestamp) -> int:
    return ts.seconds * 1_000_000_000 + ts.nanos


def _ts_ns(ns: int) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(ns)
    return ts


def _client_input(req: pb.AttachRequest | pb.ExecStartRequest) -> ClientInput:
    size = (
        (req.resize.height, req.resize.width)
        if req.HasField("resize") and req.resize.height and req.resize.width
        else None
    )
    return ClientInput(data=req.stdin_data, size=size, close_stdin=req.close_stdin)


def _prepend(head: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield head
    yield from rest


class ContainerServicer(pb_grpc.ContainerServiceServicer):
    def __init__(self, lifecycle: Lifecycle, streams: Streams) -> None:
        self.lc = lifecycle
        self.streams = streams
        self.execs = Execs(lifecycle)
        self.health = HealthChecks(lifecycle, self.execs)

    # ---- metadata

    def Create(
        self, request: pb.CreateContainerRequest, context: grpc.ServicerContext
    ) -> pb.Container:
        live = self.lc.create(
            CreateRequest(
                name=request.name,
                config=request.config,
                host_config=request.host_config,
                networking_config=request.networking_config,
                platform=request.platform,
            )
        )
        return listing.container_pb(live)

    def Get(self, request: pb.GetContainerRequest, context: grpc.ServicerContext) -> pb.Container:
        return listing.container_pb(self.lc.registry.lookup(request.reference), request.size)

    def List(
        self, request: pb.ListContainersRequest, context: grpc.ServicerContext
    ) -> pb.ListContainersResponse:
        filters = {k: list(v.values) for k, v in request.filters.items()}
        lives = listing.select(self.lc.registry, request.all, request.limit, filters)
        return pb.ListContainersResponse(
            containers=[listing.container_pb(x, request.size) for x in lives]
        )

    def Remove(
        self, request: pb.RemoveContainerRequest, context: grpc.ServicerContext
    ) -> pb.RemoveContainerResponse:
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
        policy = request.restart_policy if request.HasField("restart_policy") else None
        warnings = self.lc.update(request.reference, request.resources, policy)
        return pb.UpdateContainerResponse(warnings=warnings)

    def Prune(
        self, request: pb.PruneContainersRequest, context: grpc.ServicerContext
    ) -> pb.PruneContainersResponse:
        filters = {k: list(v.values) for k, v in request.filters.items()}
        deleted = []
        for live in listing.prunable(self.lc.registry, filters):
            try:
                self.lc.remove(live.id)
            except HanguError:
                continue  # started or removed meanwhile
            deleted.append(live.id)
        return pb.PruneContainersResponse(deleted=deleted)

    # ---- lifecycle

    def Start(
        self, request: pb.StartContainerRequest, context: grpc.ServicerContext
    ) -> pb.StartContainerResponse:
        return pb.StartContainerResponse(not_modified=self.lc.start(request.reference))

    def Stop(
        self, request: pb.StopContainerRequest, context: grpc.ServicerContext
    ) -> pb.StopContainerResponse:
        timeout = request.timeout if request.timeout_set else None
        return pb.StopContainerResponse(
            not_modified=self.lc.stop(request.reference, request.signal, timeout)
        )

    def Restart(
        self, request: pb.RestartContainerRequest, context: grpc.ServicerContext
    ) -> pb.RestartContainerResponse:
        timeout = request.timeout if request.timeout_set else None
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

        def on_done() -> None:
            cancelled.set()
            self.lc.registry.notify()

        context.add_callback(on_done)
        code, error = self.lc.wait(request.reference, request.condition, cancelled)
        return pb.WaitContainerResponse(status_code=code, error=error)

    # ---- I/O

    def Attach(
        self, request_iterator: Iterator[pb.AttachRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.OutputChunk]:
        first = next(request_iterator)
        session = self.streams.attach(
            first.reference,
            AttachOptions(
                stdin=first.stdin,
                stdout=first.stdout,
                stderr=first.stderr,
                stream=first.stream,
                logs=first.logs,
                detach_keys=first.detach_keys,
            ),
        )
        live = self.lc.registry.lookup(first.reference)
        self.lc.emit("attach", live)

        pump_input(
            session,
            (_client_input(r) for r in request_iterator),
            lambda h, w: self.lc.resize(live.id, h, w),
            "attach-in",
        )

        def on_done() -> None:
            session.close()
            self.streams.detach(live, session)

        context.add_callback(on_done)
        for kind, value in session.items():
            if kind == "exit":
                yield pb.OutputChunk(exited=True, exit_code=int(value))  # type: ignore[arg-type]
            else:
                yield pb.OutputChunk(stream=_STREAMS[kind], data=value)  # type: ignore[arg-type]

    def Resize(self, request: pb.ResizeRequest, context: grpc.ServicerContext) -> pb.ResizeResponse:
        self.lc.resize(request.reference, request.size.height, request.size.width)
        return pb.ResizeResponse()

    def Logs(
        self, request: pb.LogsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.OutputChunk]:
        both = not request.stdout and not request.stderr
        query = logs.LogQuery(
            stdout=request.stdout or both,
            stderr=request.stderr or both,
            since_ns=_ns(request.since) if request.HasField("since") else 0,
            until_ns=_ns(request.until) if request.HasField("until") else 0,
            tail=request.tail if request.tail >= 0 else -1,
        )
        stop = threading.Event()
        context.add_callback(stop.set)
        for entry in self.streams.logs(request.reference, query, request.follow, stop):
            yield pb.OutputChunk(
                stream=_STREAMS.get(entry.stream, pb.OutputChunk.STDOUT),
                data=entry.data,
                time=_ts_ns(entry.time_ns),
            )

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
        """One sample, or one a second while the client stays (as dockerd)."""
        live = self.lc.registry.lookup(request.reference)
        stop = threading.Event()
        context.add_callback(stop.set)
        while True:
            yield stats.sample(
                self.lc.cgroup_path(live), live.row.pid, live.row.status in ("running", "paused")
            )
            if not request.stream or live.removed or stop.wait(1.0):
                return

    # ---- files

    def ArchiveGet(
        self, request: pb.ArchiveGetRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ArchiveChunk]:
        for stat_json, data in archive.archive_get(self.lc, request.reference, request.path):
            yield pb.ArchiveChunk(stat_json=stat_json, data=data)

    def ArchivePut(
        self, request_iterator: Iterator[pb.ArchivePutRequest], context: grpc.ServicerContext
    ) -> pb.ArchivePutResponse:
        first = next(request_iterator)
        chunks = (r.data for r in request_iterator if r.data)
        data = _prepend(first.data, chunks) if first.data else chunks
        archive.archive_put(
            self.lc, first.reference, first.path, data, first.no_overwrite_dir_non_dir
        )
        return pb.ArchivePutResponse()

    # ---- exec

    def ExecCreate(
        self, request: pb.ExecCreateRequest, context: grpc.ServicerContext
    ) -> pb.ExecCreateResponse:
        return pb.ExecCreateResponse(id=self.execs.create(request).id)

    def ExecInspect(self, request: pb.ExecInspectRequest, context: grpc.ServicerContext) -> pb.Exec:
        return self.execs.inspect(request.exec_id)

    def ExecResize(
        self, request: pb.ExecResizeRequest, context: grpc.ServicerContext
    ) -> pb.ResizeResponse:
        self.execs.resize(request.exec_id, request.size.height, request.size.width)
        return pb.ResizeResponse()

    def ExecStart(
        self, request_iterator: Iterator[pb.ExecStartRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.OutputChunk]:
        first = next(request_iterator)
        size = (
            (first.resize.height, first.resize.width)
            if first.HasField("resize") and first.resize.height and first.resize.width
            else None
        )
        record = self.execs.get(first.exec_id)
        if first.detach:
            self.execs.start(first.exec_id, first.tty, size, None)
            return
        cfg = record.config
        session = AttachSession(
            cfg.attach_stdin,
            cfg.attach_stdout or not cfg.attach_stdin,
            cfg.attach_stderr or not cfg.attach_stdin,
            tty=first.tty or cfg.tty,
        )

        context.add_callback(session.close)
        self.execs.start(first.exec_id, first.tty, size, session)
        pump_input(
            session,
            (_client_input(r) for r in request_iterator),
            lambda h, w: self.execs.resize(first.exec_id, h, w),
            "exec-in",
        )
        for kind, value in session.items():
            if kind == "exit":
                yield pb.OutputChunk(exited=True, exit_code=int(value))  # type: ignore[arg-type]
            else:
                yield pb.OutputChunk(stream=_STREAMS[kind], data=value)  # type: ignore[arg-type]
