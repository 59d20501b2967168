"""Protobuf messages ↔ the domain model (model.py), for the servicer only
(as containerd's plugins/services/containers/helpers.go).

Docker's config shapes (ContainerConfig, HostConfig, NetworkingConfig,
NetworkSettings and what they hold) have the same fields in both, so they
are translated field by field through the message descriptors and the
dataclasses' fields (tests/container/test_converters.py checks that the
two agree); fields that differ in shape are converted by hand."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from google.protobuf.message import Message
from pydantic import TypeAdapter

from hangu.container.v1 import container_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime import times

from . import model
from .creating import CreateRequest
from .execs import ExecRecord
from .logs import LogEntry, LogQuery
from .model import MountPlan
from .sessions import ClientInput, Item
from .streams import AttachOptions

T = TypeVar("T")

# ContainerConfig fields whose presence is a StringList message here and
# `list[str] | None` in the domain.
_STRING_LISTS = ("cmd", "entrypoint")


def _is_map(fd: Any) -> bool:
    return fd.message_type is not None and bool(fd.message_type.GetOptions().map_entry)


def _map_value(fd: Any) -> Any:
    """The descriptor of a map field's values."""
    return fd.message_type.fields_by_name["value"]


def to_dict(msg: Message) -> dict[str, Any]:
    """A message as plain Python values: unset message and `optional`
    fields are left out (the dataclass default applies, None for absent)."""
    out: dict[str, Any] = {}
    for fd in msg.DESCRIPTOR.fields:
        value = getattr(msg, fd.name)
        if _is_map(fd):
            vt = _map_value(fd)
            out[fd.name] = {
                k: to_dict(v) if vt.message_type is not None else v for k, v in value.items()
            }
        elif fd.is_repeated:
            out[fd.name] = [to_dict(v) if fd.message_type is not None else v for v in value]
        elif fd.has_presence and not msg.HasField(fd.name):
            continue
        elif fd.message_type is not None:
            out[fd.name] = to_dict(value)
        else:
            out[fd.name] = value
    return out


def fill(msg: Message, obj: Any, skip: tuple[str, ...] = ()) -> None:
    """Set `msg`'s fields from a dataclass of the same shape (None: unset)."""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value is None or f.name in skip:
            continue
        fd = msg.DESCRIPTOR.fields_by_name[f.name]
        target = getattr(msg, f.name)
        if (_is_map(fd) or fd.is_repeated) and not value:
            continue
        if _is_map(fd):
            if _map_value(fd).message_type is not None:
                for k, v in value.items():
                    fill(target[k], v)
            else:
                target.update(value)
        elif fd.is_repeated:
            if fd.message_type is not None:
                for v in value:
                    fill(target.add(), v)
            else:
                target.extend(value)
        elif fd.message_type is not None:
            if f.default is None:  # `X | None`: present even when empty
                target.SetInParent()
            fill(target, value)
        elif fd.has_presence or value != fd.default_value:
            # A default left unwritten: writing it would make a parent
            # message present.
            setattr(msg, f.name, value)


class _Shape:
    """One dataclass ↔ message pair of the generic translation."""

    def __init__(self, cls: type[Any]) -> None:
        self.adapter: TypeAdapter[Any] = TypeAdapter(cls)

    def load(self, data: dict[str, Any]) -> Any:
        return self.adapter.validate_python(data)


_SHAPES: dict[type[Any], _Shape] = {
    cls: _Shape(cls)
    for cls in (
        model.ContainerConfig,
        model.HostConfig,
        model.EndpointConfig,
        model.NetworkingConfig,
        model.NetworkSettings,
        model.RestartPolicy,
    )
}


def _load(cls: type[T], data: dict[str, Any]) -> T:
    loaded: T = _SHAPES[cls].load(data)
    return loaded


# ---------------------------------------------------------- configs


def config_from_pb(msg: pb.ContainerConfig) -> model.ContainerConfig:
    data = to_dict(msg)
    for name in _STRING_LISTS:
        if name in data:
            data[name] = data[name]["values"]
    return _load(model.ContainerConfig, data)


def config_to_pb(cfg: model.ContainerConfig) -> pb.ContainerConfig:
    msg = pb.ContainerConfig()
    fill(msg, cfg, skip=_STRING_LISTS)
    for name in _STRING_LISTS:
        values = getattr(cfg, name)
        if values is not None:
            getattr(msg, name).CopyFrom(tpb.StringList(values=values))
    return msg


def host_config_from_pb(msg: pb.HostConfig) -> model.HostConfig:
    return _load(model.HostConfig, to_dict(msg))


def host_config_to_pb(hc: model.HostConfig) -> pb.HostConfig:
    msg = pb.HostConfig()
    fill(msg, hc)
    return msg


def endpoint_config_from_pb(msg: pb.EndpointConfig) -> model.EndpointConfig:
    return _load(model.EndpointConfig, to_dict(msg))


def networking_config_from_pb(msg: pb.NetworkingConfig) -> model.NetworkingConfig:
    return _load(model.NetworkingConfig, to_dict(msg))


def network_settings_from_pb(msg: pb.NetworkSettings) -> model.NetworkSettings:
    return _load(model.NetworkSettings, to_dict(msg))


def network_settings_to_pb(ns: model.NetworkSettings) -> pb.NetworkSettings:
    msg = pb.NetworkSettings()
    fill(msg, ns)
    return msg


def restart_policy_from_pb(msg: pb.RestartPolicy) -> model.RestartPolicy:
    return _load(model.RestartPolicy, to_dict(msg))


def create_request(msg: pb.CreateContainerRequest) -> CreateRequest:
    return CreateRequest(
        name=msg.name,
        config=config_from_pb(msg.config),
        host_config=host_config_from_pb(msg.host_config),
        networking_config=networking_config_from_pb(msg.networking_config),
        platform=msg.platform,
    )


# -------------------------------------------------------- container


def health_to_pb(h: model.Health) -> pb.Health:
    return pb.Health(
        status=h.status,
        failing_streak=h.failing_streak,
        log=[
            pb.HealthResult(
                start=times.timestamp_from_datetime(r.start),
                end=times.timestamp_from_datetime(r.end),
                exit_code=r.exit_code,
                output=r.output,
            )
            for r in h.log
        ],
    )


def state_to_pb(s: model.State) -> pb.ContainerState:
    status = s.status
    msg = pb.ContainerState(
        status=status,
        running=s.running,
        paused=status == "paused",
        restarting=status == "restarting",
        oom_killed=s.oom_killed,
        dead=status == "dead",
        pid=s.pid if status in ("running", "paused") else 0,
        exit_code=s.exit_code,
        error=s.error,
        started_at=times.timestamp_from_seconds(s.started_at),
        finished_at=times.timestamp_from_seconds(s.finished_at),
    )
    if s.health is not None:
        msg.health.CopyFrom(health_to_pb(s.health))
    return msg


def _mount_point(plan: MountPlan) -> pb.MountPoint:
    volume = plan.type == "volume"
    return pb.MountPoint(
        type=plan.type,
        name=plan.name if volume else "",
        source=plan.source,
        destination=plan.destination,
        driver=plan.driver if volume else "",
        mode=plan.mode,
        rw=plan.rw,
        propagation=plan.propagation,
    )


def container_to_pb(view: model.ContainerView) -> pb.Container:
    c = view.container
    ns = network_settings_to_pb(c.network_settings)
    return pb.Container(
        id=c.id,
        name=c.name,
        created=times.timestamp_from_seconds(c.created),
        path=c.path,
        args=c.args,
        state=state_to_pb(c.state),
        image_id=c.image_id,
        image=c.image,
        resolv_conf_path=c.resolv_conf_path,
        hostname_path=c.hostname_path,
        hosts_path=c.hosts_path,
        log_path="",
        restart_count=c.restart_count,
        driver="overlay2",
        platform=c.platform,
        config=config_to_pb(c.config),
        host_config=host_config_to_pb(c.host_config),
        network_settings=ns,
        mounts=[_mount_point(p) for p in c.mounts],
        rootfs_path=c.rootfs_path,
        size_rw=view.size_rw,
        size_root_fs=view.size_root_fs,
        exec_ids=view.exec_ids,
    )


# ------------------------------------------------------------- exec


def exec_config_from_pb(msg: pb.CreateExecRequest) -> model.ExecConfig:
    return model.ExecConfig(
        container=msg.reference,
        cmd=list(msg.cmd),
        attach_stdin=msg.attach_stdin,
        attach_stdout=msg.attach_stdout,
        attach_stderr=msg.attach_stderr,
        detach_keys=msg.detach_keys,
        tty=msg.tty,
        env=list(msg.env),
        privileged=msg.privileged,
        user=msg.user,
        working_dir=msg.working_dir,
        console_size=list(msg.console_size),
    )


def exec_to_pb(r: ExecRecord) -> pb.Exec:
    c = r.config
    msg = pb.Exec(
        id=r.id,
        container_id=r.container_id,
        running=r.running,
        pid=r.pid,
        open_stdin=c.attach_stdin,
        open_stdout=c.attach_stdout,
        open_stderr=c.attach_stderr,
        tty=c.tty,
        entrypoint=c.cmd[0],
        arguments=c.cmd[1:],
        privileged=c.privileged,
        user=c.user,
        working_dir=c.working_dir,
        detach_keys=r.detach_keys,
    )
    if r.exit_code is not None:
        msg.exit_code = r.exit_code
    return msg


# ------------------------------------------------------------ streams

_STREAMS = {"stdout": pb.OutputChunk.STDOUT, "stderr": pb.OutputChunk.STDERR}


def terminal_size(req: pb.AttachRequest | pb.StartExecRequest) -> tuple[int, int] | None:
    """(height, width) of a message's resize, None without a whole one."""
    if req.HasField("resize") and req.resize.height and req.resize.width:
        return req.resize.height, req.resize.width
    return None


def client_input(req: pb.AttachRequest | pb.StartExecRequest) -> ClientInput:
    return ClientInput(data=req.stdin_data, size=terminal_size(req), close_stdin=req.close_stdin)


def attach_options(req: pb.AttachRequest) -> AttachOptions:
    return AttachOptions(
        stdin=req.stdin,
        stdout=req.stdout,
        stderr=req.stderr,
        stream=req.stream,
        logs=req.logs,
        detach_keys=req.detach_keys,
    )


def log_query(req: pb.LogsRequest) -> LogQuery:
    both = not req.stdout and not req.stderr  # neither asked: both
    return LogQuery(
        stdout=req.stdout or both,
        stderr=req.stderr or both,
        since_ns=times.ns_from_timestamp(req.since) if req.HasField("since") else 0,
        until_ns=times.ns_from_timestamp(req.until) if req.HasField("until") else 0,
        tail=req.tail if req.tail >= 0 else -1,
    )


def output_chunk(item: Item) -> pb.OutputChunk:
    """A session's item: (stream, bytes), or ("exit", code) at the end."""
    kind, value = item
    if isinstance(value, int):
        return pb.OutputChunk(exited=True, exit_code=value)
    return pb.OutputChunk(stream=_STREAMS[kind], data=value)


def log_chunk(entry: LogEntry) -> pb.OutputChunk:
    return pb.OutputChunk(
        stream=_STREAMS.get(entry.stream, pb.OutputChunk.STDOUT),
        data=entry.data,
        time=times.timestamp_from_ns(entry.time_ns),
    )


# ------------------------------------------------------- observation


def stats_to_pb(s: model.StatsSample) -> pb.StatsSample:
    msg = pb.StatsSample(read=times.timestamp_from_ns(s.read_ns))
    fill(msg, s, skip=("read_ns",))
    return msg


def path_stat_to_pb(st: model.PathStat) -> pb.PathStat:
    return pb.PathStat(
        name=st.name,
        size=st.size,
        mode=st.mode,
        mtime=times.timestamp_from_datetime(st.mtime),
        link_target=st.link_target,
    )
