"""gRPC servicer of the image service: translates protobuf messages to
calls of the domain objects (built by service.py) and back, nothing more."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from hangu.image.v1 import image_pb2 as pb
from hangu.image.v1 import image_pb2_grpc
from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime.errors import InvalidArgument
from hangu_runtime.events import serve_events
from hangu_runtime.filters import plain
from hangu_runtime.readahead import read_ahead
from hangu_runtime.timeparse import TimeParseError, parse_rfc3339
from hangu_runtime.times import timestamp_from_ns, timestamp_from_seconds

from . import archive, buildcache, commit, history, listing, prune, removal, save
from .builder.builds import Builder
from .builder.options import BuildOptions, RunLimits, Ulimit
from .distribution import Distribution
from .images import ImageStore, ImageView
from .platforms import Platform, host_platform
from .progress import ProgressEvent
from .registry import Credentials
from .rootfs import RootfsInfo, RootfsStore


def _ts(text: str) -> Timestamp | None:
    """An image config's RFC 3339 time; None when absent or unreadable."""
    try:
        return timestamp_from_ns(parse_rfc3339(text))
    except TimeParseError:
        return None


def _platform(msg: pb.Platform) -> Platform | None:
    """None (the host's) when unset; a missing architecture is the host's."""
    if not msg.architecture and not msg.os:
        return None
    return Platform(
        msg.os or "linux", msg.architecture or host_platform().architecture, msg.variant
    )


def _creds(msg: pb.RegistryAuth) -> Credentials:
    return Credentials(msg.username, msg.password, msg.identity_token, msg.registry_token)


def _on_done(context: grpc.ServicerContext) -> threading.Event:
    """An event set when the RPC ends, normally or because the client left:
    long work (pull, push, save) stops instead of running on for nobody."""
    done = threading.Event()
    context.add_callback(done.set)
    return done


def _progress(ev: ProgressEvent) -> pb.Progress:
    msg = pb.Progress(
        id=ev.id,
        status=ev.status,
        current=ev.current,
        total=ev.total,
        error=ev.error,
        error_code=ev.error_code,
        stream=ev.stream,
        detail=ev.detail,
    )
    if ev.built_id:
        msg.id_result.CopyFrom(pb.IDResult(id=ev.built_id))
    if ev.pushed is not None:
        pushed = ev.pushed
        msg.push_result.CopyFrom(
            pb.PushResult(tag=pushed.tag, digest=pushed.digest, size=pushed.size)
        )
    return msg


def image_message(view: ImageView) -> pb.Image:
    cfg = view.config
    msg = pb.Image(
        id=view.id,
        repo_tags=view.repo_tags,
        repo_digests=view.repo_digests,
        parent=view.record.parent,
        comment=str(cfg.get("comment") or ""),
        docker_version=str(cfg.get("docker_version") or ""),
        author=str(cfg.get("author") or ""),
        architecture=view.record.architecture,
        variant=view.record.variant,
        os=view.record.os,
        size=view.record.size,
        layers=view.diff_ids,
        config_json=view.config_json,
        shared_size=-1,
        containers=-1,
        labels=view.labels,
        manifest_digest=view.record.manifest_digest,
    )
    created = _ts(view.record.created)
    if created is not None:
        msg.created.CopyFrom(created)
    if view.record.last_tag_time:
        msg.last_tag_time.CopyFrom(timestamp_from_seconds(view.record.last_tag_time))
    return msg


def rootfs_message(info: RootfsInfo) -> pb.Rootfs:
    return pb.Rootfs(
        container_id=info.container_id,
        image_id=info.image_id,
        path=info.path,
        upper_dir=info.upper_dir,
        work_dir=info.work_dir,
        lower_dirs=info.lower_dirs,
    )


def _cache_record(record: buildcache.CacheRecord) -> pb.BuildCacheRecord:
    msg = pb.BuildCacheRecord(
        id=record.hex_id,
        parent=record.parent.removeprefix("sha256:"),
        type=buildcache.RECORD_TYPE,
        description=record.description,
        in_use=record.in_use,
        shared=record.shared,
        size=record.size,
        usage_count=record.usage_count,
    )
    if record.created_ns is not None:
        msg.created_at.CopyFrom(timestamp_from_ns(record.created_ns))
    if record.last_used_ns is not None:
        msg.last_used_at.CopyFrom(timestamp_from_ns(record.last_used_ns))
    return msg


def build_options(msg: pb.BuildOptions) -> BuildOptions:
    args: dict[str, str | None] = dict(msg.build_args)
    args.update(dict.fromkeys(msg.build_args_unset))
    limits = RunLimits(
        network_mode=msg.network_mode,
        extra_hosts=tuple(msg.extra_hosts),
        shm_size=msg.shm_size,
        memory=msg.memory,
        memory_swap=msg.memory_swap,
        cpu_shares=msg.cpu_shares,
        cpuset_cpus=msg.cpuset_cpus,
        cpuset_mems=msg.cpuset_mems,
        cpu_period=msg.cpu_period,
        cpu_quota=msg.cpu_quota,
        ulimits=tuple(Ulimit(u.name, u.soft, u.hard) for u in msg.ulimits),
        cgroup_parent=msg.cgroup_parent,
        security_opt=tuple(msg.security_opt),
    )
    return BuildOptions(
        dockerfile=msg.dockerfile,
        tags=tuple(msg.tags),
        quiet=msg.quiet,
        no_cache=msg.no_cache,
        pull=msg.pull,
        remove=msg.remove,
        force_remove=msg.force_remove,
        build_args=args,
        labels=dict(msg.labels),
        target=msg.target,
        limits=limits,
        platform=_platform(msg.platform),
        cache_from=tuple(msg.cache_from),
        registry_auths={host: _creds(auth) for host, auth in msg.registry_auths.items()},
        remote=msg.remote,
    )


class ImageServicer(image_pb2_grpc.ImageServiceServicer):
    def __init__(
        self,
        images: ImageStore,
        rootfs: RootfsStore,
        distribution: Distribution,
        builder: Builder | None = None,
    ) -> None:
        self.images = images
        self.rootfs = rootfs
        self.distribution = distribution
        self.builder = builder
        self._list_cache: tuple[tuple[int, bytes], pb.ListImagesResponse] | None = None

    # ------------------------------------------------------------ distribution
    def Pull(self, request: pb.PullRequest, context: grpc.ServicerContext) -> Iterator[pb.Progress]:
        dist = self.distribution
        pull = dist.pull_all_tags if request.all_tags else dist.pull
        for ev in pull(
            request.reference, _platform(request.platform), _creds(request.auth), _on_done(context)
        ):
            yield _progress(ev)

    def Login(self, request: pb.LoginRequest, context: grpc.ServicerContext) -> pb.LoginResponse:
        status = self.distribution.login(request.auth.server_address, _creds(request.auth))
        return pb.LoginResponse(status=status)

    def DistributionInspect(
        self, request: pb.DistributionInspectRequest, context: grpc.ServicerContext
    ) -> pb.DistributionInspectResponse:
        info = self.distribution.inspect(request.reference, _creds(request.auth))
        return pb.DistributionInspectResponse(
            media_type=info["media_type"],
            digest=info["digest"],
            size=info["size"],
            platforms=[
                pb.Platform(
                    os=p.get("os", ""),
                    architecture=p.get("architecture", ""),
                    variant=p.get("variant", ""),
                )
                for p in info["platforms"]
            ],
        )

    # ------------------------------------------------------------ archives
    def Load(
        self, request_iterator: Iterator[pb.LoadRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.Progress]:
        first = next(request_iterator, None)
        if first is None:
            return
        quiet = first.quiet

        def chunks() -> Iterator[bytes]:
            if first.data:
                yield first.data
            for req in request_iterator:
                if req.data:
                    yield req.data

        for ev in archive.load(self.images, chunks(), quiet):
            yield _progress(ev)

    def Import(
        self, request_iterator: Iterator[pb.ImportRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.Progress]:
        first = next(request_iterator, None)
        if first is None:
            return

        def chunks() -> Iterator[bytes]:
            if first.data:
                yield first.data
            for req in request_iterator:
                if req.data:
                    yield req.data

        platform = _platform(first.platform)
        yield _progress(
            archive.import_rootfs(
                self.images,
                chunks(),
                first.repository,
                first.tag,
                first.message,
                list(first.changes),
                platform.architecture if platform else "",
                platform.os if platform else "linux",
            )
        )

    def Build(
        self, request_iterator: Iterator[pb.BuildRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.Progress]:
        first = next(request_iterator, None)
        if first is None:
            return
        if self.builder is None:
            raise InvalidArgument("this image service does not build")
        options = build_options(first.options)

        def chunks() -> Iterator[bytes]:
            if first.data:
                yield first.data
            for req in read_ahead(request_iterator):
                data = req.data  # each read of a bytes field copies it
                if data:
                    yield data

        # The build runs in a thread of its own and hands its messages over
        # as they come, so RUN output reaches the client while it is made.
        events: queue.Queue[ProgressEvent | BaseException | None] = queue.Queue()
        done = _on_done(context)
        builder = self.builder

        def work() -> None:
            try:
                builder.build(options, chunks(), events.put, done)
                events.put(None)
            except BaseException as err:
                events.put(err)

        threading.Thread(target=work, name="build", daemon=True).start()
        while True:
            item = events.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield _progress(item)

    # ------------------------------------------------------------ metadata
    def List(
        self, request: pb.ListImagesRequest, context: grpc.ServicerContext
    ) -> pb.ListImagesResponse:
        # The answer is kept until the image store changes: building 300
        # messages again for an unchanged store is most of `docker images`.
        key = (self.images.generation, request.SerializeToString(deterministic=True))
        cached = self._list_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        found = listing.list_images(
            self.images, plain(request.filters), request.all, request.shared_size
        )
        images = []
        for view in found.views:
            msg = image_message(view)
            if request.without_config:
                msg.ClearField("config_json")
            if request.shared_size:
                msg.shared_size = found.shared.get(view.id, 0)
            images.append(msg)
        response = pb.ListImagesResponse(images=images, layers_size=found.layers_size)
        self._list_cache = (key, response)
        return response

    def Get(self, request: pb.GetImageRequest, context: grpc.ServicerContext) -> pb.Image:
        return image_message(self.images.cached_view(request.reference))

    def History(
        self, request: pb.HistoryRequest, context: grpc.ServicerContext
    ) -> pb.HistoryResponse:
        entries = []
        view = self.images.cached_view(request.reference)
        for item in history.history(self.images, view):
            entry = pb.HistoryEntry(
                id=item.id,
                created_by=item.created_by,
                tags=item.tags,
                size=item.size,
                comment=item.comment,
            )
            created = _ts(item.created)
            if created is not None:
                entry.created.CopyFrom(created)
            entries.append(entry)
        return pb.HistoryResponse(entries=entries)

    def Tag(self, request: pb.TagRequest, context: grpc.ServicerContext) -> pb.TagResponse:
        removal.tag(self.images, request.source, request.target)
        return pb.TagResponse()

    def Remove(
        self, request: pb.RemoveImageRequest, context: grpc.ServicerContext
    ) -> pb.RemoveImageResponse:
        result = removal.remove(
            self.images,
            request.reference,
            request.force,
            list(request.used_by_containers),
            list(request.running_containers),
            prune=not request.no_prune,
        )
        return pb.RemoveImageResponse(untagged=result.untagged, deleted=result.deleted)

    def Prune(
        self, request: pb.PruneImagesRequest, context: grpc.ServicerContext
    ) -> pb.PruneImagesResponse:
        result, reclaimed = prune.prune(
            self.images, plain(request.filters), list(request.in_use_image_ids)
        )
        return pb.PruneImagesResponse(
            untagged=result.untagged, deleted=result.deleted, space_reclaimed=reclaimed
        )

    def BuildCacheUsage(
        self, request: pb.BuildCacheUsageRequest, context: grpc.ServicerContext
    ) -> pb.BuildCacheUsageResponse:
        found = buildcache.usage(self.images, list(request.in_use_image_ids))
        return pb.BuildCacheUsageResponse(records=[_cache_record(r) for r in found])

    def PruneBuildCache(
        self, request: pb.PruneBuildCacheRequest, context: grpc.ServicerContext
    ) -> pb.PruneBuildCacheResponse:
        result = buildcache.prune(
            self.images,
            plain(request.filters),
            list(request.in_use_image_ids),
            keep_storage=request.keep_storage,
        )
        return pb.PruneBuildCacheResponse(
            caches_deleted=[d.removeprefix("sha256:") for d in result.deleted],
            space_reclaimed=result.reclaimed,
        )

    def Events(
        self, request: tpb.EventsRequest, context: grpc.ServicerContext
    ) -> Iterator[tpb.Event]:
        return serve_events(self.images.events, request, context)

    # ------------------------------------------------------------ rootfs
    def PrepareRootfs(
        self, request: pb.PrepareRootfsRequest, context: grpc.ServicerContext
    ) -> pb.Rootfs:
        return rootfs_message(self.rootfs.prepare(request.container_id, request.image_id))

    def MountRootfs(
        self, request: pb.MountRootfsRequest, context: grpc.ServicerContext
    ) -> pb.Rootfs:
        return rootfs_message(self.rootfs.mount(request.container_id))

    def UnmountRootfs(
        self, request: pb.UnmountRootfsRequest, context: grpc.ServicerContext
    ) -> pb.UnmountRootfsResponse:
        self.rootfs.unmount(request.container_id)
        return pb.UnmountRootfsResponse()

    def RemoveRootfs(
        self, request: pb.RemoveRootfsRequest, context: grpc.ServicerContext
    ) -> pb.RemoveRootfsResponse:
        self.rootfs.remove(request.container_id)
        return pb.RemoveRootfsResponse()

    def Push(self, request: pb.PushRequest, context: grpc.ServicerContext) -> Iterator[pb.Progress]:
        for ev in self.distribution.push(
            request.reference, request.all_tags, _creds(request.auth), _on_done(context)
        ):
            yield _progress(ev)

    def Save(
        self, request: pb.SaveRequest, context: grpc.ServicerContext
    ) -> Iterator[tpb.DataChunk]:
        for data in save.save(self.images, list(request.references), _on_done(context)):
            yield tpb.DataChunk(data=data)

    def Changes(
        self, request: pb.ChangesRequest, context: grpc.ServicerContext
    ) -> pb.ChangesResponse:
        return pb.ChangesResponse(
            changes=[
                pb.Change(path=path, kind=kind)
                for path, kind in self.rootfs.changes(request.container_id)
            ]
        )

    def Export(
        self, request: pb.ExportRequest, context: grpc.ServicerContext
    ) -> Iterator[tpb.DataChunk]:
        for data in self.rootfs.export(request.container_id, _on_done(context)):
            yield tpb.DataChunk(data=data)

    def Commit(self, request: pb.CommitRequest, context: grpc.ServicerContext) -> pb.CommitResponse:
        config = None
        if request.config_json:
            try:
                config = json.loads(request.config_json)
            except ValueError as err:
                raise InvalidArgument(f"invalid container config: {err}") from err
        image_id = commit.commit(
            self.images,
            self.rootfs,
            request.container_id,
            request.repository,
            request.tag,
            request.comment,
            request.author,
            list(request.changes),
            config,
        )
        return pb.CommitResponse(id=image_id)
