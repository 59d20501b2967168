"""Resolve a Docker `User` string against a container's /etc/passwd and
/etc/group, the way dockerd does before it hands numeric ids to runc."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hangu_runtime.errors import InvalidArgument


@dataclass(frozen=True)
class ResolvedUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


@dataclass(frozen=True)
class _Passwd:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class _Group:
    name: str
    gid: int
    members: tuple[str, ...]


def _read_lines(path: Path) -> list[list[str]]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return []
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rows.append(line.split(":"))
    return rows


def _passwd(rootfs: Path) -> list[_Passwd]:
    out = []
    for f in _read_lines(rootfs / "etc/passwd"):
        if len(f) >= 4 and f[2].isdigit() and f[3].isdigit():
            out.append(_Passwd(f[0], int(f[2]), int(f[3]), f[5] if len(f) > 5 else "/"))
    return out


def _groups(rootfs: Path) -> list[_Group]:
    out = []
    for f in _read_lines(rootfs / "etc/group"):
        if len(f) >= 3 and f[2].isdigit():
            members = tuple(m for m in (f[3].split(",") if len(f) > 3 else []) if m)
            out.append(_Group(f[0], int(f[2]), members))
    return out


def _group_id(spec: str, groups: list[_Group]) -> int:
    if spec.isdigit():
        return int(spec)
    for g in groups:
        if g.name == spec:
            return g.gid
    raise InvalidArgument(f"unable to find group {spec}: no matching entries in group file")


def resolve_user(rootfs: Path, user: str, group_add: list[str] | None = None) -> ResolvedUser:
    """`user` is "", "uid", "name", "uid:gid", "name:group" (any mix)."""
    users = _passwd(rootfs)
    groups = _groups(rootfs)
    user_part, _, group_part = (user or "0").partition(":")
    entry: _Passwd | None = None
    if user_part.isdigit():
        uid = int(user_part)
        entry = next((u for u in users if u.uid == uid), None)
    else:
        entry = next((u for u in users if u.name == user_part), None)
        if entry is None:
            raise InvalidArgument(
                f"unable to find user {user_part}: no matching entries in passwd file"
            )
        uid = entry.uid
    gid = entry.gid if entry else 0
    if group_part:
        gid = _group_id(group_part, groups)
    extra: list[int] = []
    # Supplementary groups of the named user, as getgrouplist() would give,
    # but only when the group was not forced with "user:group" (dockerd's rule).
    if entry is not None and not group_part:
        for g in groups:
            if entry.name in g.members and g.gid != gid and g.gid not in extra:
                extra.append(g.gid)
    for spec in group_add or []:
        g_id = _group_id(spec, groups)
        if g_id not in extra:
            extra.append(g_id)
    return ResolvedUser(uid=uid, gid=gid, additional_gids=extra, home=entry.home if entry else "/")
