"""`--device` and `--device-cgroup-rule`: host device nodes made in the
container (a folder: every device under it) with the access the device
cgroup allows them, and extra device cgroup rules, as dockerd's
oci_linux.go builds them."""

from __future__ import annotations

import os
import re
import stat
from typing import Any

from hangu_runtime.errors import Internal, InvalidArgument

from .model import DeviceMapping

_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$")


def _node(path: str, dest: str, access: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    st = os.stat(path)
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    device = {
        "path": dest,
        "type": kind,
        "major": major,
        "minor": minor,
        "fileMode": stat.S_IMODE(st.st_mode),
        "uid": 0,
        "gid": 0,
    }
    rule = {"allow": True, "type": kind, "major": major, "minor": minor, "access": access}
    return device, rule


def host_devices(
    mappings: list[DeviceMapping],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The OCI `linux.devices` and device cgroup rules of `--device`s."""
    devices: list[dict[str, Any]] = []
    rules: list[dict[str, Any]] = []
    for m in mappings:
        source = m.path_on_host
        dest = m.path_in_container or source
        access = m.cgroup_permissions or "rwm"
        where = f'error gathering device information while adding custom device "{source}"'
        try:
            if os.path.isdir(source):
                for top, _, files in os.walk(source):
                    for name in sorted(files):
                        path = os.path.join(top, name)
                        made = _node(path, dest + path[len(source) :], access)
                        if made is not None:
                            devices.append(made[0])
                            rules.append(made[1])
                continue
            made = _node(source, dest, access)
        except FileNotFoundError:
            raise Internal(f"{where}: no such file or directory") from None
        except OSError as err:
            raise Internal(f"{where}: {err.strerror.lower() if err.strerror else err}") from None
        if made is None:
            raise Internal(f"{where}: not a device node")
        devices.append(made[0])
        rules.append(made[1])
    return devices, rules


def validate(mappings: list[DeviceMapping], cgroup_rules: list[str]) -> None:
    """At create: what dockerd refuses before anything is made."""
    for m in mappings:
        if m.cgroup_permissions and not re.fullmatch(r"[rwm]{1,3}", m.cgroup_permissions):
            raise InvalidArgument(f"invalid device mode: {m.cgroup_permissions}")
    for rule in cgroup_rules:
        if not _RULE.match(rule):
            raise InvalidArgument(f"invalid device cgroup format '{rule}'")


def cgroup_rules(rules: list[str]) -> list[dict[str, Any]]:
    """`--device-cgroup-rule "c 1:3 mr"` as OCI device cgroup entries."""
    out: list[dict[str, Any]] = []
    for text in rules:
        match = _RULE.match(text)
        if match is None:
            raise InvalidArgument(f"invalid device cgroup format '{text}'")
        kind, major, minor, access = match.groups()
        entry: dict[str, Any] = {"allow": True, "type": kind, "access": access}
        if major != "*":
            entry["major"] = int(major)
        if minor != "*":
            entry["minor"] = int(minor)
        out.append(entry)
    return out
