"""`docker cp`: tar a path out of a container, or unpack a tar into one.

Paths are resolved inside the container's root (symlinks followed without
leaving it). A running container is reached through /proc/<pid>/root, so
its volumes and tmpfs mounts are seen as the process sees them; a stopped
one through its root filesystem, mounted by the image service for the
duration of the copy."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from hangu_runtime.errors import HanguError, InvalidArgument, NotFound

from .lifecycle import Lifecycle
from .model import PathStat
from .registry import Live
from .starting import secure_join

# Go's os.FileMode type bits, which X-Docker-Container-Path-Stat carries.
_GO_DIR, _GO_LINK, _GO_PIPE, _GO_SOCK = 1 << 31, 1 << 27, 1 << 25, 1 << 24
_GO_SETUID, _GO_SETGID, _GO_CHAR, _GO_STICKY, _GO_DEV = 1 << 23, 1 << 22, 1 << 21, 1 << 20, 1 << 26
CHUNK = 256 * 1024


def go_mode(st: os.stat_result) -> int:
    m = st.st_mode & 0o777
    kind = stat.S_IFMT(st.st_mode)
    m |= {
        stat.S_IFDIR: _GO_DIR,
        stat.S_IFLNK: _GO_LINK,
        stat.S_IFIFO: _GO_PIPE,
        stat.S_IFSOCK: _GO_SOCK,
        stat.S_IFCHR: _GO_DEV | _GO_CHAR,
        stat.S_IFBLK: _GO_DEV,
    }.get(kind, 0)
    if st.st_mode & stat.S_ISUID:
        m |= _GO_SETUID
    if st.st_mode & stat.S_ISGID:
        m |= _GO_SETGID
    if st.st_mode & stat.S_ISVTX:
        m |= _GO_STICKY
    return m


class _Root:
    """The container's root for one copy (mounting it if need be)."""

    def __init__(self, lc: Lifecycle, live: Live) -> None:
        self.lc = lc
        self.live = live
        self.mounted_here = False
        ctr = live.ctr
        if live.running and ctr.state.pid:
            self.path = Path(f"/proc/{ctr.state.pid}/root")
        else:
            with live.lock:
                if ctr.rootfs_mounted and ctr.rootfs_path:
                    self.path = Path(ctr.rootfs_path)
                else:
                    self.path = Path(lc.peers.image.mount_rootfs(live.id))
                    self.mounted_here = True

    def close(self) -> None:
        if self.mounted_here:
            with self.live.lock:
                if not self.live.running:
                    with contextlib.suppress(HanguError):
                        self.lc.peers.image.unmount_rootfs(self.live.id)


def path_stat(path: Path, name: str) -> PathStat:
    st = os.lstat(path)
    return PathStat(
        name=name,
        size=st.st_size,
        mode=go_mode(st),
        mtime=datetime.fromtimestamp(st.st_mtime, tz=UTC),
        link_target=os.readlink(path) if stat.S_ISLNK(st.st_mode) else "",
    )


def archive_get(lc: Lifecycle, ref: str, path: str) -> Iterator[PathStat | bytes]:
    """The path's stat first, then tar bytes in chunks."""
    live = lc.registry.lookup(ref)
    root = _Root(lc, live)
    try:
        target = (
            secure_join(root.path, path)
            if not path.endswith("/.")
            else secure_join(root.path, path[:-2] or "/")
        )
        if not os.path.lexists(target):
            raise NotFound(f"Could not find the file {path} in container {live.ctr.name}")
        name = os.path.basename(path.rstrip("/")) or "/"
        if path.endswith("/."):
            name = "."
        yield path_stat(target, name)
        r, w = os.pipe()

        def produce() -> None:
            with os.fdopen(w, "wb") as out:
                try:
                    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                        tar.add(str(target), arcname=name if name != "/" else ".", recursive=True)
                except (OSError, tarfile.TarError):
                    pass

        thread = threading.Thread(target=produce, name="archive-get", daemon=True)
        thread.start()
        with os.fdopen(r, "rb") as src:
            while chunk := src.read(CHUNK):
                yield chunk
        thread.join()
    finally:
        root.close()


class _ChunkReader:
    """A file object over an iterator of byte chunks, for tarfile's stream
    mode ("r|*"), which only reads."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""
        self._pos = 0

    def write(self, b: bytes, /) -> int:
        raise io.UnsupportedOperation("write")

    def seek(self, pos: int, /) -> int:
        raise io.UnsupportedOperation("seek")

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        pass

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._it)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        self._pos += len(out)
        return out


def archive_put(
    lc: Lifecycle,
    ref: str,
    path: str,
    chunks: Iterable[bytes],
    no_overwrite_dir_non_dir: bool = False,
) -> None:
    live = lc.registry.lookup(ref)
    root = _Root(lc, live)
    try:
        dest = secure_join(root.path, path)
        if not dest.is_dir():
            raise NotFound(f"Could not find the file {path} in container {live.ctr.name}")
        with tarfile.open(fileobj=_ChunkReader(chunks), mode="r|*") as tar:
            for member in tar:
                _extract(tar, member, root.path, dest, no_overwrite_dir_non_dir)
    finally:
        root.close()


def _extract(
    tar: tarfile.TarFile, m: tarfile.TarInfo, root: Path, dest: Path, no_overwrite: bool
) -> None:
    name = m.name.lstrip("/")
    if not name or name == ".":
        return
    rel = os.path.relpath(dest, root)
    parent = secure_join(root, os.path.join(rel, os.path.dirname(name)))
    target = parent / os.path.basename(name)
    parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(target):
        if no_overwrite and target.is_dir() != m.isdir():
            have = "directory" if target.is_dir() else "non-directory"
            want = "directory" if m.isdir() else "non-directory"
            raise InvalidArgument(f"cannot overwrite {have} {name} with {want}")
        if not (m.isdir() and target.is_dir() and not target.is_symlink()):
            if target.is_dir() and not target.is_symlink():
                return
            target.unlink()
    if m.isdir():
        target.mkdir(exist_ok=True)
    elif m.issym():
        os.symlink(m.linkname, target)
        return
    elif m.islnk():
        source = secure_join(root, os.path.join(rel, m.linkname.lstrip("/")))
        os.link(source, target)
        return
    elif m.isfile():
        src = tar.extractfile(m)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            while src is not None and (block := src.read(CHUNK)):
                out.write(block)
    else:
        return  # devices and fifos are not copied
    os.chown(target, m.uid, m.gid, follow_symlinks=False)
    os.chmod(target, m.mode & 0o7777)
    os.utime(target, (m.mtime, m.mtime), follow_symlinks=False)
