"""Copy an image's content at a mount point into a new, empty volume, as
dockerd does: modes, owners, times, symlinks, hard links and special files
kept, and the volume's root takes the owner and mode of the source folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from pathlib import Path


def is_empty(path: Path) -> bool:
    try:
        with os.scandir(path) as it:
            return next(it, None) is None
    except FileNotFoundError:
        return True


def _copy_meta(src_st: os.stat_result, dst: str) -> None:
    os.lchown(dst, src_st.st_uid, src_st.st_gid)
    if not stat.S_ISLNK(src_st.st_mode):
        os.chmod(dst, stat.S_IMODE(src_st.st_mode))
    os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns), follow_symlinks=False)


def _copy_entry(src: str, dst: str, st: os.stat_result, links: dict[tuple[int, int], str]) -> None:
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        os.mkdir(dst)
        for entry in os.scandir(src):
            _copy_entry(
                entry.path, os.path.join(dst, entry.name), entry.stat(follow_symlinks=False), links
            )
    elif stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dst)
    elif stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], dst)
            return
        shutil.copyfile(src, dst, follow_symlinks=False)
        links[key] = dst
    elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        os.mknod(dst, mode, st.st_rdev)
    else:
        return  # sockets are not content
    _copy_meta(st, dst)


def copy_into(src: Path, dst: Path) -> None:
    """Copy the content of `src` into the existing, empty folder `dst`."""
    src_st = os.stat(src)
    if not stat.S_ISDIR(src_st.st_mode):
        return
    links: dict[tuple[int, int], str] = {}
    for entry in os.scandir(src):
        _copy_entry(
            entry.path, os.path.join(dst, entry.name), entry.stat(follow_symlinks=False), links
        )
    _copy_meta(src_st, str(dst))


def tree_size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total
