"""A container's writable layer: what changed (`docker diff`), the layer
tar it makes (overlay whiteouts back to `.wh.` entries, for `docker
commit`), and the whole root filesystem as a tar (`docker export`)."""

from __future__ import annotations

import io
import os
import queue
import stat
import tarfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .unpack import OPAQUE, OPAQUE_XATTR, WHITEOUT_PREFIX

MODIFIED, ADDED, DELETED = 0, 1, 2
CHUNK = 1 << 20


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _walk(root: Path, rel_dir: str = "") -> Iterator[tuple[str, str, os.stat_result]]:
    """(relative path, absolute path, lstat) of everything under `root`,
    sorted, each directory before its contents."""
    base = os.path.join(root, rel_dir) if rel_dir else str(root)
    with os.scandir(base) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        st = entry.stat(follow_symlinks=False)
        yield rel, entry.path, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, rel)


Skip = Callable[[str], bool]


def changes(upper: Path, lowers: list[str], skip: Skip | None = None) -> list[tuple[str, int]]:
    """Docker's change list: ("/path", kind), sorted by path; `skip(rel)`
    leaves entries out (with their contents)."""
    out: list[tuple[str, int]] = []
    for rel, _, st in _kept(upper, skip):
        if is_whiteout(st):
            out.append(("/" + rel, DELETED))
            continue
        in_lower = any(os.path.lexists(os.path.join(low, rel)) for low in lowers)
        out.append(("/" + rel, MODIFIED if in_lower else ADDED))
    out.sort()
    return out


def _kept(upper: Path, skip: Skip | None) -> Iterator[tuple[str, str, os.stat_result]]:
    """_walk without what `skip` drops (a dropped directory drops its contents)."""
    dropped = ""
    for rel, path, st in _walk(upper):
        if dropped and rel.startswith(dropped):
            continue
        if skip is not None and skip(rel):
            dropped = rel + "/"
            continue
        dropped = ""
        yield rel, path, st


def is_empty(upper: Path, skip: Skip | None = None) -> bool:
    """Whether the writable layer holds nothing (after `skip`)."""
    return next(_kept(upper, skip), None) is None


def write_layer_tar(upper: Path, out: BinaryIO, skip: Skip | None = None) -> None:
    """The writable layer as an image layer tar (uncompressed) into `out`;
    `skip(rel)` leaves entries out (with their contents)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, path, st in _kept(upper, skip):
            head, name = os.path.split(rel)
            if is_whiteout(st):
                info = tarfile.TarInfo(os.path.join(head, WHITEOUT_PREFIX + name))
                info.mtime, info.mode = int(st.st_mtime), 0o644
                info.uid, info.gid = st.st_uid, st.st_gid
                tar.addfile(info)
                continue
            info = tar.gettarinfo(path, arcname=rel)
            info.uname = info.gname = ""
            xattrs = _xattrs(path)
            if xattrs:
                info.pax_headers = xattrs
            if info.isreg():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
            if info.isdir() and _is_opaque(path):
                op = tarfile.TarInfo(os.path.join(rel, OPAQUE))
                op.mtime, op.mode = int(st.st_mtime), 0o644
                tar.addfile(op)


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for name in names:
        if name.startswith(("trusted.overlay.", "security.selinux")):
            continue
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    return out


class Stopped(Exception):
    pass


class QueueWriter(io.RawIOBase):
    """A writable file whose bytes go into a bounded queue for a consumer;
    gives up (Stopped) once `stop` is set, so a producer never blocks on a
    consumer that went away."""

    def __init__(
        self, out: queue.Queue[bytes | BaseException | None], stop: threading.Event
    ) -> None:
        self.out = out
        self.stop = stop

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if data:
            chunk = bytes(data)
            while True:
                if self.stop.is_set():
                    raise Stopped("the reader went away")
                try:
                    self.out.put(chunk, timeout=0.2)
                    break
                except queue.Full:
                    continue
        return len(data)


def stream_tar(
    produce: Callable[[BinaryIO], None], stop: threading.Event | None = None
) -> Iterator[bytes]:
    """Run `produce(writer)` in a thread; yield what it writes, in chunks."""
    out: queue.Queue[bytes | BaseException | None] = queue.Queue(maxsize=16)
    stop = stop or threading.Event()

    def run() -> None:
        try:
            writer = io.BufferedWriter(QueueWriter(out, stop), CHUNK)  # type: ignore[type-var]
            produce(writer)
            writer.flush()
            out.put(None)
        except BaseException as err:
            out.put(err)

    worker = threading.Thread(target=run, name="tar", daemon=True)
    worker.start()
    try:
        while True:
            item = out.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def write_rootfs_tar(merged: Path, out: BinaryIO) -> None:
    """`docker export`: the merged root filesystem as one tar."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for rel, path, _ in _walk(merged):
            info = tar.gettarinfo(path, arcname=rel)
            info.uname = info.gname = ""
            if info.isreg():
                with open(path, "rb") as fh:
                    tar.addfile(info, fh)
            else:
                tar.addfile(info)
