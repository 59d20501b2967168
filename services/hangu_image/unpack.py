"""Unpack one layer tar into its own directory in overlayfs's format.

Each layer is unpacked alone, never onto its parent, so a whiteout becomes
what overlayfs reads as one: `.wh.NAME` a 0/0 character device NAME, and
`.wh..wh..opq` the `trusted.overlay.opaque=y` xattr on its directory. Hard
links, symlinks, device nodes, fifos, modes, owners, mtimes and xattrs are
kept. A member whose path would leave the layer root (`..`, or a parent
that is a symlink) is refused, so a hostile image cannot write on the host.

The input is read once, as a stream: the uncompressed bytes are hashed on
the way (the diff id) and nothing is staged in memory."""

from __future__ import annotations

import bz2
import errno
import gzip
import hashlib
import io
import lzma
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hangu_runtime.errors import InvalidArgument

WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
CHUNK = 1 << 20


class LayerError(InvalidArgument):
    pass


class HashingReader(io.RawIOBase):
    """Reads from `src`, hashing and counting what passes through."""

    def __init__(
        self,
        src: BinaryIO,
        on_progress: Callable[[int], None] | None = None,
        hashing: bool = True,  # off: only counted (a build context needs no digest)
    ) -> None:
        self.src = src
        self.hashing = hashing
        self.hasher = hashlib.sha256()
        self.count = 0
        self.on_progress = on_progress

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.src.read(len(buf))
        n = len(data)
        buf[:n] = data
        if n:
            if self.hashing:
                self.hasher.update(data)
            self.count += n
            if self.on_progress is not None:
                self.on_progress(self.count)
        return n

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    @property
    def digest(self) -> str:
        return "sha256:" + self.hasher.hexdigest()


# The magic numbers of the compressions a tar may come in.
GZIP, BZIP2, XZ, ZSTD = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"
COMPRESSED = (GZIP, BZIP2, XZ, ZSTD)


def decompressed(src: BinaryIO) -> BinaryIO:
    """The uncompressed view of a possibly compressed tar stream."""
    buffered = src if hasattr(src, "peek") else io.BufferedReader(src)  # type: ignore[type-var]
    head = buffered.peek(6)[:6]
    if head.startswith(GZIP):
        return gzip.GzipFile(fileobj=buffered, mode="rb")  # type: ignore[return-value]
    if head.startswith(BZIP2):
        return bz2.BZ2File(buffered)  # type: ignore[return-value]
    if head.startswith(XZ):
        return lzma.LZMAFile(buffered)  # type: ignore[return-value]
    if head.startswith(ZSTD):
        import zstandard  # only zstd layers need it

        # Streaming, frame after frame: memory does not grow with the layer.
        return zstandard.ZstdDecompressor().stream_reader(
            buffered, read_size=CHUNK, read_across_frames=True
        )
    return buffered


class ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buf:
            try:
                self._buf = next(self._it)
            except StopIteration:
                return 0
        n = min(len(buf), len(self._buf))
        buf[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


@dataclass
class UnpackResult:
    diff_id: str  # sha256 of the uncompressed tar
    size: int  # bytes of file content unpacked (what `docker images` shows)


def clean_name(name: str) -> str:
    """Member name relative to the layer root; refuses `..` escapes."""
    norm = os.path.normpath("/" + name).lstrip("/")
    parts = name.replace("\\", "/").split("/")
    depth = 0
    for part in parts:
        if part in ("", "."):
            continue
        depth = depth - 1 if part == ".." else depth + 1
        if depth < 0:
            raise LayerError(f"invalid tar header: {name!r} escapes the layer root (breakout)")
    return "" if norm in ("", ".") else norm


def inside_root(name: str) -> str:
    """Member name as a chrooted untar resolves it: `..` stops at the root."""
    norm = os.path.normpath("/" + name.replace("\\", "/")).lstrip("/")
    return "" if norm in ("", ".") else norm


class Unpacker:
    """`layer`: an image layer (whiteouts become overlayfs's, an escaping
    name is refused). Otherwise a build context, as dockerd's chrooted
    untar takes it: `.wh.` files are plain files and a name is resolved
    inside the root (`../x` is `x`)."""

    def __init__(self, root: Path, layer: bool = True) -> None:
        self.layer = layer
        self.root = str(root)
        self.safe_dirs: set[str] = {""}
        self.dir_times: list[tuple[str, int]] = []
        self.size = 0
        self.is_root = os.geteuid() == 0

    def _abs(self, rel: str) -> str:
        return os.path.join(self.root, rel) if rel else self.root

    def ensure_parent(self, rel: str) -> None:
        """Make every parent of `rel` a real directory inside the root; a
        parent that is a symlink (or anything but a directory) is refused."""
        parent = os.path.dirname(rel)
        if parent in self.safe_dirs:
            return
        walked = ""
        for part in parent.split("/"):
            walked = f"{walked}/{part}" if walked else part
            if walked in self.safe_dirs:
                continue
            path = self._abs(walked)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o755)
            else:
                if not stat.S_ISDIR(st.st_mode):
                    raise LayerError(
                        f"invalid tar header: {rel!r} goes through non-directory {walked!r}"
                    )
            self.safe_dirs.add(walked)

    def clear(self, rel: str, keep_dir: bool) -> None:
        path = self._abs(rel)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            shutil.rmtree(path)
            self.safe_dirs = {d for d in self.safe_dirs if d != rel and not d.startswith(rel + "/")}
        else:
            os.unlink(path)

    def whiteout(self, rel: str, member: tarfile.TarInfo) -> None:
        parent, base = os.path.split(rel)
        self.ensure_parent(rel)
        if base == OPAQUE:
            target = self._abs(parent)
            if parent:
                self.ensure_parent(parent + "/x")
            os.setxattr(target, OPAQUE_XATTR, b"y", follow_symlinks=False)
            return
        name = base[len(WHITEOUT_PREFIX) :]
        if not name or name in (".", ".."):
            raise LayerError(f"invalid whiteout {member.name!r}")
        target_rel = os.path.join(parent, name)
        self.clear(target_rel, keep_dir=False)
        path = self._abs(target_rel)
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        self._owner(path, member)

    def _owner(self, path: str, member: tarfile.TarInfo) -> None:
        if self.is_root:
            os.chown(path, member.uid, member.gid, follow_symlinks=False)

    def _meta(self, path: str, member: tarfile.TarInfo, rel: str) -> None:
        self._owner(path, member)
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                attr = key[len("SCHILY.xattr.") :]
                try:
                    os.setxattr(
                        path, attr, value.encode("utf-8", "surrogateescape"), follow_symlinks=False
                    )
                except OSError as err:
                    if err.errno not in (errno.ENOTSUP, errno.EPERM):
                        raise
        if not member.issym():
            os.chmod(path, member.mode & 0o7777)
        mtime = int(member.mtime * 1_000_000_000)
        if member.isdir():
            self.dir_times.append((path, mtime))
        else:
            os.utime(path, ns=(mtime, mtime), follow_symlinks=False)

    def _name(self, name: str) -> str:
        return clean_name(name) if self.layer else inside_root(name)

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        rel = self._name(member.name)
        if not rel:
            return  # the root itself: keep the layer dir as created
        base = os.path.basename(rel)
        if self.layer and base.startswith(WHITEOUT_PREFIX):
            self.whiteout(rel, member)
            return
        self.ensure_parent(rel)
        path = self._abs(rel)
        self.clear(rel, keep_dir=member.isdir())
        if member.isdir():
            if not os.path.isdir(path):
                os.mkdir(path, 0o755)
            self.safe_dirs.add(rel)
        elif member.isreg():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            src = tar.extractfile(member)
            with os.fdopen(fd, "wb") as out:
                if src is not None:
                    shutil.copyfileobj(src, out, CHUNK)
            self.size += member.size
        elif member.islnk():
            target = self._name(member.linkname)
            if not target:
                raise LayerError(f"invalid hard link {member.name!r} -> {member.linkname!r}")
            self.ensure_parent(target)
            try:
                os.link(self._abs(target), path, follow_symlinks=False)
            except FileNotFoundError:
                # dockerd's words, with the paths as its chroot sees them
                raise LayerError(f"link /{target} /{rel}: no such file or directory") from None
            return  # a hard link shares the target's metadata
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(
                path, kind | (member.mode & 0o7777), os.makedev(member.devmajor, member.devminor)
            )
        elif member.isfifo():
            os.mkfifo(path, member.mode & 0o7777)
        else:
            return  # sockets and unknown types are skipped, as Docker does
        self._meta(path, member, rel)

    def begin_file(self, member: tarfile.TarInfo) -> tuple[int, str, str] | None:
        """A regular file of a tar read as a stream: made empty, its fd,
        path and name returned; the caller writes its content, then calls
        end_file. None for a member that names the root."""
        rel = self._name(member.name)
        if not rel:
            return None
        self.ensure_parent(rel)
        path = self._abs(rel)
        self.clear(rel, keep_dir=False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        return fd, path, rel

    def end_file(self, fd: int, path: str, rel: str, member: tarfile.TarInfo) -> None:
        os.close(fd)
        self.size += member.size
        self._meta(path, member, rel)

    def finish(self) -> None:
        # Directory mtimes last: creating their children changed them.
        for path, mtime in reversed(self.dir_times):
            os.utime(path, ns=(mtime, mtime), follow_symlinks=False)


def unpack(
    stream: BinaryIO, dest: Path, on_progress: Callable[[int], None] | None = None
) -> UnpackResult:
    """Unpack the (already decompressed) tar `stream` into `dest`.

    `on_progress` gets the count of tar bytes read so far."""
    reader = HashingReader(stream, on_progress)
    buffered = io.BufferedReader(reader, CHUNK)
    unpacker = Unpacker(dest)
    try:
        with tarfile.open(fileobj=buffered, mode="r|") as tar:
            for member in tar:
                unpacker.member(tar, member)
    except tarfile.TarError as err:
        raise LayerError(f"invalid layer tar: {err}") from err
    unpacker.finish()
    # The tar's end padding is part of the diff id.
    while buffered.read(CHUNK):
        pass
    return UnpackResult(diff_id=reader.digest, size=unpacker.size)


def diff_id_of(stream: BinaryIO) -> str:
    reader = HashingReader(stream)
    reader.drain()
    return reader.digest
