"""User mounts: `-v`/Binds, `--mount`, and the image's VOLUMEs, planned at
create (which volumes, anonymous ones included) and resolved to host paths
at start (the volume service mounts each one for the container)."""

from __future__ import annotations

import os
from typing import Any

from hangu_runtime.errors import InvalidArgument

from .model import ContainerConfig, HostConfig, MountPlan

_PROPAGATIONS = {"shared", "rshared", "slave", "rslave", "private", "rprivate"}


def _check_destination(dest: str, kind: str) -> str:
    if not dest.startswith("/"):
        raise InvalidArgument(
            f'invalid mount config for type "{kind}": invalid mount path: '
            f"'{dest}' mount path must be absolute"
        )
    if os.path.normpath(dest) == "/":
        raise InvalidArgument(
            f'invalid mount config for type "{kind}": invalid specification: '
            "destination can't be '/'"
        )
    return os.path.normpath(dest)


def parse_bind(spec: str) -> MountPlan:
    """Docker's Binds entry "src:dst[:opts]"."""
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    src, dst = parts[0], parts[1]
    opts = parts[2].split(",") if len(parts) == 3 and parts[2] else []
    plan = MountPlan(
        type="bind" if src.startswith("/") else "volume",
        destination=_check_destination(dst, "bind" if src.startswith("/") else "volume"),
        mode=parts[2] if len(parts) == 3 else "",
    )
    for opt in opts:
        if opt == "ro":
            plan.rw = False
        elif opt == "rw":
            plan.rw = True
        elif opt in _PROPAGATIONS:
            plan.propagation = opt
        elif opt == "nocopy":
            plan.copy_data = False
        elif opt in ("z", "Z", "consistent", "cached", "delegated"):
            pass
        else:
            raise InvalidArgument(f"invalid mode: {opt}")
    if plan.type == "bind":
        plan.source = os.path.normpath(src)
        plan.propagation = plan.propagation or "rprivate"
    else:
        plan.name = src
        plan.driver = "local"
    return plan


def plan_mounts(config: ContainerConfig, hc: HostConfig) -> list[MountPlan]:
    plans: list[MountPlan] = []
    seen: set[str] = set()

    def add(plan: MountPlan) -> None:
        if plan.destination in seen:
            raise InvalidArgument(f"Duplicate mount point: {plan.destination}")
        seen.add(plan.destination)
        plans.append(plan)

    for spec in hc.binds:
        add(parse_bind(spec))
    for m in hc.mounts:
        if m.type == "tmpfs":
            continue  # tmpfs mounts go straight into the spec
        if m.type not in ("bind", "volume"):
            raise InvalidArgument(f"mount type unknown or unsupported: {m.type}")
        dest = _check_destination(m.target, m.type)
        if m.type == "bind":
            if not m.source.startswith("/"):
                raise InvalidArgument(
                    f'invalid mount config for type "bind": invalid mount '
                    f"path: '{m.source}' mount path must be absolute"
                )
            if not os.path.exists(m.source):
                raise InvalidArgument(
                    f'invalid mount config for type "bind": bind source path '
                    f"does not exist: {m.source}"
                )
            add(
                MountPlan(
                    type="bind",
                    destination=dest,
                    source=os.path.normpath(m.source),
                    rw=not m.read_only,
                    propagation=m.bind_propagation or "rprivate",
                )
            )
        else:
            add(
                MountPlan(
                    type="volume",
                    destination=dest,
                    name=m.source,
                    rw=not m.read_only,
                    driver=m.volume_driver or "local",
                    copy_data=not m.volume_no_copy,
                    anonymous=not m.source,
                )
            )
    for target in config.volumes:
        dest = os.path.normpath(target)
        if dest not in seen:
            add(MountPlan(type="volume", destination=dest, driver="local", anonymous=True))
    return plans


def to_oci(plans: list[MountPlan]) -> list[dict[str, Any]]:
    out = []
    for p in plans:
        opts = ["rbind", "rw" if p.rw else "ro"]
        opts.append(p.propagation or "rprivate")
        out.append(
            {"destination": p.destination, "type": "bind", "source": p.source, "options": opts}
        )
    return out
