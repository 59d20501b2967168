"""What runc leaves in a container's writable layer only to mount the
container's own file systems on: the mount points /proc, /sys, /dev and the
empty /etc/hosts, /etc/hostname and /etc/resolv.conf the network service's
files are bind-mounted on, when the image lacks them (and /etc, when it was
made or copied up only to hold those). dockerd keeps the same in an init
layer under the container's, so they never show in `docker diff` and never
reach an image made by `docker commit` or a build step; the mount points of
the user's own mounts (volumes, binds, tmpfs, --init's docker-init) do, as
dockerd's."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from .unpack import OPAQUE_XATTR

# dockerd's init layer, as far as runc makes it in the root filesystem
# (/dev/pts, /dev/shm and /dev/console land in /dev's tmpfs, not here).
PLACEHOLDERS = frozenset(
    ("etc/hosts", "etc/hostname", "etc/resolv.conf", "dev", "proc", "sys", ".dockerenv")
)


def _is_opaque(path: Path) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def mount_placeholder_filter(upper: Path, lowers: list[str]) -> Callable[[str], bool]:
    """`skip(rel)` for diff.changes/write_layer_tar: whether the entry at
    `rel` (relative to `upper`) is only a placeholder."""

    def lower_of(rel: str) -> os.stat_result | None:
        for low in lowers:
            try:
                return os.lstat(os.path.join(low, rel))
            except OSError:
                continue
        return None

    def placeholder(rel: str) -> bool:
        if rel not in PLACEHOLDERS or lower_of(rel) is not None:
            return False
        try:
            st = os.lstat(upper / rel)
        except OSError:
            return False
        if stat.S_ISDIR(st.st_mode):
            return not any(os.scandir(upper / rel))
        return stat.S_ISREG(st.st_mode) and st.st_size == 0

    def skip(rel: str) -> bool:
        if rel == "etc":
            # /etc made, or copied up with nothing changed but its mtime,
            # only to hold the placeholders.
            low = lower_of("etc")
            if low is not None:
                if _is_opaque(upper / "etc"):
                    return False  # a new /etc in place of the image's
                st = os.lstat(upper / "etc")
                if (st.st_mode, st.st_uid, st.st_gid) != (low.st_mode, low.st_uid, low.st_gid):
                    return False
            with os.scandir(upper / "etc") as entries:
                return all(placeholder(f"etc/{e.name}") for e in entries)
        return placeholder(rel)

    return skip
