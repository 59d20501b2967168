"""mount(2) and umount2(2) through libc, so the hot path of a container
start costs no exec. Only an overlay whose options do not fit in a page
with absolute paths falls back to `mount` run from the image root, where
the short relative link names (l/XXXX) fit, as overlay2 does."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import subprocess
from pathlib import Path

from hangu_runtime.errors import Internal

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
MNT_DETACH = 2
PAGE = os.sysconf("SC_PAGE_SIZE")
# As overlay2: with the index feature on, an upper dir remembers the lower
# dirs of its first mount and refuses others (a layer re-created after a
# crash gets a new link name), so turn it off where the kernel knows it.
_EXTRA = ",index=off" if os.path.exists("/sys/module/overlay/parameters/index") else ""


def mount_overlay(
    target: Path,
    lowers_abs: list[str],
    lowers_rel: list[str],
    upper: tuple[str, str],
    work: tuple[str, str],
    cwd: Path,
) -> None:
    """Mount an overlay at `target`; lowers are topmost first; `upper` and
    `work` are (absolute, relative to `cwd`) pairs."""
    opts = f"lowerdir={':'.join(lowers_abs)},upperdir={upper[0]},workdir={work[0]}{_EXTRA}"
    if len(opts) < PAGE - 1:
        if _libc.mount(b"overlay", str(target).encode(), b"overlay", 0, opts.encode()) != 0:
            err = ctypes.get_errno()
            raise Internal(f"mount overlay on {target}: {os.strerror(err)}")
        return
    rel = f"lowerdir={':'.join(lowers_rel)},upperdir={upper[1]},workdir={work[1]}{_EXTRA}"
    if len(rel) >= PAGE - 1:
        raise Internal(f"too many layers to mount ({len(lowers_rel)})")
    proc = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", rel, str(target)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise Internal(f"mount overlay on {target}: {proc.stderr.strip()}")


def unmount(target: Path) -> None:
    """Unmount `target`; not mounted is fine; busy falls back to a lazy unmount."""
    path = str(target).encode()
    if _libc.umount2(path, 0) == 0:
        return
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOENT):
        return
    if err == errno.EBUSY and _libc.umount2(path, MNT_DETACH) == 0:
        return
    raise Internal(f"unmount {target}: {os.strerror(err)}")


def is_mounted(target: Path) -> bool:
    try:
        return os.path.ismount(target)
    except OSError:
        return False
