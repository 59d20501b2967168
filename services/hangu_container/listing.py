"""Container records as the API shows them: the view of one container,
list filters and order as `docker ps` has them, and `top`."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence

from hangu_runtime.errors import Conflict, HanguError, InvalidArgument
from hangu_runtime.filters import Args, match_labels, prune_until

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


# dockerd's acceptedPsFilterTags.
LIST_FILTERS = frozenset(
    {
        "ancestor",
        "before",
        "exited",
        "expose",
        "health",
        "id",
        "is-task",
        "isolation",
        "label",
        "name",
        "network",
        "publish",
        "since",
        "status",
        "volume",
    }
)
HEALTH_STATES = frozenset({"starting", "healthy", "unhealthy", "none"})
PRUNE_FILTERS = frozenset({"label", "label!", "until"})  # containersAcceptedFilters


def _matches(live: Live, args: Args) -> bool:
    ctr = live.ctr
    for key, values in args.items():
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
            if not args.match_kv_list("label", ctr.config.labels):
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
        elif key == "health":
            health = ctr.state.health
            if (health.status if health is not None else "none") not in values:
                return False
        # The other accepted keys (before, since, volume, ...) do not
        # narrow the list yet.
    return True


def select(
    registry: Registry, all_: bool, limit: int, filters: Mapping[str, Sequence[str]]
) -> list[Live]:
    """`docker ps`: newest first; running ones only, unless `all`, a limit,
    a status filter or the legacy `before`/`since` ask for stopped ones too
    (dockerd's rules); at most `limit` (> 0)."""
    args = Args(filters)
    args.validate(LIST_FILTERS)
    for value in args.get("health"):
        if value not in HEALTH_STATES:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    lives = sorted(registry.all(), key=lambda x: x.ctr.created, reverse=True)
    everything = all_ or limit > 0 or any(args.contains(k) for k in ("status", "before", "since"))
    if not everything:
        lives = [x for x in lives if x.running]
    lives = [x for x in lives if _matches(x, args)]
    return lives[:limit] if limit > 0 else lives


def prunable(registry: Registry, filters: Mapping[str, Sequence[str]]) -> list[Live]:
    """Stopped containers matching `docker container prune`'s filters
    (until, label, label!), as dockerd's ContainerPrune."""
    args = Args(filters)
    args.validate(PRUNE_FILTERS)
    until_ns = prune_until(args)
    out = []
    for live in registry.all():
        ctr = live.ctr
        if ctr.state.status not in ("exited", "created", "dead"):
            continue
        if until_ns is not None and int(ctr.created * 1e9) > until_ns:
            continue
        if not match_labels(args, ctr.config.labels):
            continue
        out.append(live)
    return out


def prune(lc: Lifecycle, filters: Mapping[str, Sequence[str]]) -> list[str]:
    """Remove the prunable containers; the ids of those removed."""
    deleted = []
    for live in prunable(lc.registry, filters):
        try:
            lc.remove(live.id)
        except HanguError:
            continue  # started or removed meanwhile
        deleted.append(live.id)
    return deleted


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
