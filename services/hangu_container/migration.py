"""The database of earlier versions, converted once at startup.

Up to this version the service kept one row per container in the table
`containers`: flat columns for the state, JSON text for the args, mounts
and health log, and Docker's config shapes as serialized protobuf messages
(ContainerConfig, HostConfig, NetworkingConfig, NetworkSettings) of the
proto as it was then. Those messages differ from today's only in fields
this module reads back from the unknown fields of today's messages:
`repeated string cmd = 12` with `bool cmd_set = 13`, the same for the
entrypoint (19, 20), `bool stop_timeout_set = 27` and, in HostConfig,
`bool memory_swappiness_set = 52`. Every row becomes a record of the
domain model (store.py); then the old table is dropped. This module is
the only one that knows the old layout."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf import unknown_fields
from google.protobuf.message import Message
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from hangu.container.v1 import container_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime import logging as hlog

from . import converters, model
from .model import MountPlan
from .store import Store

log = hlog.get_logger("hangu.container.migration")

LEGACY_TABLE = "containers"


def _legacy_fields(msg: Message) -> dict[int, list[Any]]:
    """Unknown fields by number: their values (bytes or ints), in order."""
    out: dict[int, list[Any]] = {}
    fields = unknown_fields.UnknownFieldSet(msg)
    for f in (fields[i] for i in range(len(fields))):
        out.setdefault(f.field_number, []).append(f.data)
    return out


def _string_list(old: dict[int, list[Any]], values: int, was_set: int) -> tpb.StringList | None:
    """A `repeated string` with its `*_set` companion: None when absent
    (as the gateway showed it: set, or not empty)."""
    items = [bytes(v).decode() for v in old.get(values, [])]
    if not items and not any(old.get(was_set, [])):
        return None
    return tpb.StringList(values=items)


def legacy_config(blob: bytes) -> model.ContainerConfig:
    msg = pb.ContainerConfig.FromString(blob)
    old = _legacy_fields(msg)
    for name, values, was_set in (("cmd", 12, 13), ("entrypoint", 19, 20)):
        items = _string_list(old, values, was_set)
        if items is not None:
            getattr(msg, name).CopyFrom(items)
    if not any(old.get(27, [])):
        msg.ClearField("stop_timeout")
    elif not msg.HasField("stop_timeout"):
        msg.stop_timeout = 0  # set to 0: proto3 did not write it
    return converters.config_from_pb(msg)


def legacy_host_config(blob: bytes) -> model.HostConfig:
    msg = pb.HostConfig.FromString(blob)
    if not any(_legacy_fields(msg).get(52, [])):
        msg.ClearField("memory_swappiness")
    elif not msg.HasField("memory_swappiness"):
        msg.memory_swappiness = 0
    return converters.host_config_from_pb(msg)


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def legacy_health(status: str, doc: str) -> model.Health | None:
    """health_status and health_json ({"FailingStreak": n, "Log": [...]})."""
    if not status:
        return None
    data = json.loads(doc or "{}")
    return model.Health(
        status=status,
        failing_streak=int(data.get("FailingStreak", 0)),
        log=[
            model.HealthResult(
                start=_time(e["Start"]),
                end=_time(e["End"]),
                exit_code=int(e["ExitCode"]),
                output=str(e["Output"]),
            )
            for e in data.get("Log") or []
        ],
    )


def legacy_container(row: dict[str, Any]) -> model.Container:
    """One row of the old table (columns added over time may be missing)."""
    get = row.get
    return model.Container(
        id=row["id"],
        name=row["name"],
        created=float(get("created", 0.0)),
        image=get("image", ""),
        image_id=get("image_id", ""),
        config=legacy_config(get("config", b"")),
        host_config=legacy_host_config(get("host_config", b"")),
        networking_config=converters.networking_config_from_pb(
            pb.NetworkingConfig.FromString(get("networking_config", b""))
        ),
        platform=get("platform", "linux"),
        path=get("path", ""),
        args=list(json.loads(get("args_json", "[]"))),
        state=model.State(
            status=get("status", "created"),
            pid=int(get("pid", 0)),
            conmon_pid=int(get("conmon_pid", 0)),
            exit_code=int(get("exit_code", 0)),
            error=get("error", ""),
            oom_killed=bool(get("oom_killed", False)),
            started_at=float(get("started_at", 0.0)),
            finished_at=float(get("finished_at", 0.0)),
            health=legacy_health(get("health_status", ""), get("health_json", "{}")),
        ),
        restart_count=int(get("restart_count", 0)),
        stopped_by_user=bool(get("stopped_by_user", False)),
        mounts=[MountPlan.from_dict(d) for d in json.loads(get("mounts_json", "[]"))],
        upper_dir=get("upper_dir", ""),
        image_size=int(get("image_size", 0)),
        rootfs_path=get("rootfs_path", ""),
        hosts_path=get("hosts_path", ""),
        hostname_path=get("hostname_path", ""),
        resolv_conf_path=get("resolv_conf_path", ""),
        network_settings=converters.network_settings_from_pb(
            pb.NetworkSettings.FromString(get("network_settings", b""))
        ),
        rootfs_mounted=bool(get("rootfs_mounted", False)),
        sandbox_active=bool(get("sandbox_active", False)),
        volumes_mounted=bool(get("volumes_mounted", False)),
    )


def migrate(engine: Engine, store: Store) -> int:
    """Convert the old table's rows (if it exists) into records, then drop
    it. Idempotent: a conversion cut short is done again from the start."""
    if LEGACY_TABLE not in inspect(engine).get_table_names():
        return 0
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.exec_driver_sql(f"SELECT * FROM {LEGACY_TABLE}").mappings()]
    for row in rows:
        store.save(legacy_container(row))
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE {LEGACY_TABLE}")
    log.info("database_migrated", containers=len(rows))
    return len(rows)
