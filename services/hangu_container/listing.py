"""Container records as the API shows them: the Container message, list
filters as `docker ps` has them, and `top`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from hangu.container.v1 import container_pb2 as pb
from hangu_runtime.errors import Conflict, InvalidArgument

from . import mounts
from .lifecycle import Lifecycle
from .registry import Live, Registry


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    if seconds:
        ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def dir_size(path: str) -> int:
    """Bytes under `path` (hard links counted once), as `docker ps -s`."""
    if not path:
        return 0
    seen: set[tuple[int, int]] = set()
    total = 0
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def container_pb(live: Live, size: bool = False) -> pb.Container:
    row = live.row
    status = row.status
    state = pb.ContainerState(
        status=status,
        running=status in ("running", "paused", "restarting"),
        paused=status == "paused",
        restarting=status == "restarting",
        oom_killed=row.oom_killed,
        dead=status == "dead",
        pid=row.pid if status in ("running", "paused") else 0,
        exit_code=row.exit_code,
        error=row.error,
        started_at=_ts(row.started_at),
        finished_at=_ts(row.finished_at),
        health_status=row.health_status,
        health_json=row.health_json if row.health_status else "",
    )
    cfg = pb.ContainerConfig.FromString(row.config)
    hc = pb.HostConfig.FromString(row.host_config)
    mps = []
    for plan in (mounts.MountPlan.from_dict(d) for d in json.loads(row.mounts_json)):
        mps.append(
            pb.MountPoint(
                type=plan.type,
                name=plan.name if plan.type == "volume" else "",
                source=plan.source,
                destination=plan.destination,
                driver=plan.driver if plan.type == "volume" else "",
                mode=plan.mode,
                rw=plan.rw,
                propagation=plan.propagation,
            )
        )
    rw = dir_size(row.upper_dir) if size else 0
    ns = pb.NetworkSettings.FromString(row.network_settings)
    if not ns.sandbox_id:
        ns.sandbox_id = row.id
    return pb.Container(
        id=row.id,
        name=row.name,
        created=_ts(row.created),
        path=row.path,
        args=json.loads(row.args_json),
        state=state,
        image_id=row.image_id,
        image=row.image,
        resolv_conf_path=row.resolv_conf_path,
        hostname_path=row.hostname_path,
        hosts_path=row.hosts_path,
        log_path="",
        restart_count=row.restart_count,
        driver="overlay2",
        platform=row.platform,
        config=cfg,
        host_config=hc,
        network_settings=ns,
        mounts=mps,
        rootfs_path=row.rootfs_path,
        size_rw=rw if size else -1,
        size_root_fs=rw + row.image_size if size else -1,
        exec_ids_json="[]",
    )


def _matches(live: Live, filters: dict[str, list[str]]) -> bool:
    row = live.row
    for key, values in filters.items():
        if not values:
            continue
        if key == "status":
            if row.status not in values:
                return False
        elif key == "id":
            if not any(row.id.startswith(v) for v in values):
                return False
        elif key == "name":
            if not any(v.lstrip("/") in row.name for v in values):
                return False
        elif key == "label":
            labels = pb.ContainerConfig.FromString(row.config).labels
            for v in values:
                k, eq, val = v.partition("=")
                if k not in labels or (eq and labels[k] != val):
                    return False
        elif key == "exited":
            if row.status != "exited" or str(row.exit_code) not in values:
                return False
        elif key == "ancestor":
            if not any(
                v in (row.image, row.image_id) or row.image_id.startswith("sha256:" + v)
                for v in values
            ):
                return False
        elif key == "network":
            nets = pb.NetworkSettings.FromString(row.network_settings).networks
            if not any(v in nets for v in values):
                return False
        elif key in (
            "before",
            "since",
            "volume",
            "health",
            "isolation",
            "is-task",
            "publish",
            "expose",
        ):
            continue
        else:
            raise InvalidArgument(f"invalid filter '{key}'")
    return True


def select(registry: Registry, all_: bool, limit: int, filters: dict[str, list[str]]) -> list[Live]:
    """`docker ps`: newest first; running ones only, unless `all`, a limit,
    a status filter or the legacy `before`/`since` ask for stopped ones too
    (dockerd's rules); at most `limit` (> 0)."""
    lives = sorted(registry.all(), key=lambda x: x.row.created, reverse=True)
    everything = all_ or limit > 0 or any(k in filters for k in ("status", "before", "since"))
    if not everything:
        lives = [x for x in lives if x.running]
    lives = [x for x in lives if _matches(x, filters)]
    return lives[:limit] if limit > 0 else lives


def _until(value: str) -> float:
    """Docker's `until`: a unix time or a Go duration back from now ("10m", "1h30m")."""
    try:
        return float(value)
    except ValueError:
        pass
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise InvalidArgument(f"invalid until filter: {value!r}")
    return time.time() - sum(float(n) * units[u] for n, u in parts)


def prunable(registry: Registry, filters: dict[str, list[str]]) -> list[Live]:
    """Stopped containers matching `docker container prune`'s filters
    (until, label, label!)."""
    out = []
    for live in registry.all():
        row = live.row
        if row.status not in ("exited", "created", "dead"):
            continue
        if any(row.created >= _until(v) for v in filters.get("until", [])):
            continue
        labels = pb.ContainerConfig.FromString(row.config).labels
        if not all(_label_match(labels, v) for v in filters.get("label", [])):
            continue
        if any(_label_match(labels, v) for v in filters.get("label!", [])):
            continue
        out.append(live)
    return out


def _label_match(labels: Any, spec: str) -> bool:
    key, eq, value = spec.partition("=")
    return key in labels and (not eq or labels[key] == value)


def top(lc: Lifecycle, ref: str, ps_args: str) -> tuple[list[str], list[list[str]]]:
    """`ps` on the host, kept to the container's processes (as dockerd)."""
    live = lc.registry.lookup(ref)
    if not live.running:
        raise Conflict(f"Container {live.id} is not running")
    pids = set(lc.cgroup_procs(live))
    args = ps_args.split() if ps_args else ["-ef"]
    out = subprocess.run(["ps", *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise InvalidArgument(f"Error running ps: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return [], []
    titles = lines[0].split()
    if "PID" not in titles:
        raise InvalidArgument("Couldn't find PID field in ps output")
    pid_col = titles.index("PID")
    rows = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) > pid_col and fields[pid_col].isdigit() and int(fields[pid_col]) in pids:
            rows.append(fields)
    return titles, rows
