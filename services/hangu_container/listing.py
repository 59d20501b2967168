"""Container records as the API shows them: the view of one container,
list filters and order as `docker ps` has them, and `top`."""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Any

from hangu_runtime.errors import Conflict, HanguError, InvalidArgument

from .lifecycle import Lifecycle
from .model import ContainerView
from .registry import Live, Registry


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


def view(live: Live, size: bool = False) -> ContainerView:
    """The container as Get and List show it; `size`: with `docker ps -s`'s sizes."""
    ctr = live.ctr
    if not size:
        return ContainerView(ctr)
    rw = dir_size(ctr.upper_dir)
    return ContainerView(ctr, size_rw=rw, size_root_fs=rw + ctr.image_size)


def _matches(live: Live, filters: dict[str, list[str]]) -> bool:
    ctr = live.ctr
    for key, values in filters.items():
        if not values:
            continue
        if key == "status":
            if ctr.state.status not in values:
                return False
        elif key == "id":
            if not any(ctr.id.startswith(v) for v in values):
                return False
        elif key == "name":
            if not any(v.lstrip("/") in ctr.name for v in values):
                return False
        elif key == "label":
            labels = ctr.config.labels
            for v in values:
                k, eq, val = v.partition("=")
                if k not in labels or (eq and labels[k] != val):
                    return False
        elif key == "exited":
            if ctr.state.status != "exited" or str(ctr.state.exit_code) not in values:
                return False
        elif key == "ancestor":
            if not any(
                v in (ctr.image, ctr.image_id) or ctr.image_id.startswith("sha256:" + v)
                for v in values
            ):
                return False
        elif key == "network":
            nets = ctr.network_settings.networks
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
    lives = sorted(registry.all(), key=lambda x: x.ctr.created, reverse=True)
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
        ctr = live.ctr
        if ctr.state.status not in ("exited", "created", "dead"):
            continue
        if any(ctr.created >= _until(v) for v in filters.get("until", [])):
            continue
        labels = ctr.config.labels
        if not all(_label_match(labels, v) for v in filters.get("label", [])):
            continue
        if any(_label_match(labels, v) for v in filters.get("label!", [])):
            continue
        out.append(live)
    return out


def prune(lc: Lifecycle, filters: dict[str, list[str]]) -> list[str]:
    """Remove the prunable containers; the ids of those removed."""
    deleted = []
    for live in prunable(lc.registry, filters):
        try:
            lc.remove(live.id)
        except HanguError:
            continue  # started or removed meanwhile
        deleted.append(live.id)
    return deleted


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
