"""COPY and ADD writing a plan into the root filesystem being built, as
dockerd's classic builder does (moby builder/dockerfile/copy.go
performCopyForInfo, copyDirectory, copyFile, fixPermissions; and
pkg/archive's CopyWithTar and CopyFileWithTar, whose tar round trip is
reproduced here without the tar).

What that means, checked on dockerd 20.10:
- a directory source copies its contents; the destination is created 0755
  (parents too) owned by root, then (if it was new) given the owner;
- a file goes to `dest/<name>` when dest ends with "/" or is a directory,
  else it is `dest`; new parents are 0755 and get the owner;
- modes, mtimes (cut to whole seconds), symlinks and hard links inside a
  copied tree are kept; a top-level symlink source was already followed;
- owners: 0:0 unless --chown; `COPY --from` without --chown keeps them;
- ADD of a local tar (plain, gzip, bzip2, xz) unpacks it into dest with the
  tar's owners; a download is never unpacked."""

from __future__ import annotations

import errno
import os
import re
import shutil
import stat
import tarfile
from pathlib import Path

from hangu_runtime.errors import InvalidArgument

from ..contexttar import unpack_context
from ..unpack import LayerError, decompressed
from .copying import CopyError, CopyPlan, Source, scoped

Owner = tuple[int, int]
CAPABILITY_XATTR = "security.capability"  # the one xattr moby's tar carries
CHMOD_REQUIRES_BUILDKIT = (
    "the --chmod option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/"
    " to learn how to build images with BuildKit enabled"
)
_NUMBER = re.compile(r"[+-]?[0-9]+")


def apply(
    plan: CopyPlan,
    rootfs: Path,
    *,
    owner: Owner | None = None,
    mode: int | None = None,
    unpack_archives: bool | None = None,
    preserve_owner: bool | None = None,
) -> None:
    """Write every source of `plan` into `rootfs`. `owner` is --chown's
    (resolve_owner); without one, files are 0:0, or keep their owners when
    `preserve_owner` (default: COPY --from). `mode` is --chmod's, for what is
    written (not the parents made). `unpack_archives` defaults to ADD's."""
    unpack = plan.instruction == "ADD" if unpack_archives is None else unpack_archives
    keep = (not plan.from_context) if preserve_owner is None else preserve_owner
    identity = owner if owner is not None else (None if keep else (0, 0))
    root = str(rootfs)
    target = scoped(root, plan.target)
    for source in plan.sources:
        try:
            _place(source, root, target, plan.target, identity, mode, unpack)
        except (LayerError, OSError) as err:
            raise CopyError(f"failed to copy files: {err}") from None


def _place(
    source: Source,
    root: str,
    target: str,
    dest: str,
    identity: Owner | None,
    mode: int | None,
    unpack: bool,
) -> None:
    if source.is_dir:
        _copy_directory(str(source.path), target, identity, mode)
        return
    if unpack and not source.from_url and is_archive(source.path):
        existed = os.path.isdir(target)
        _make_parents(target, None)
        with open(source.path, "rb") as raw:
            unpack_context(decompressed(raw), Path(target))
        if mode is not None and not existed:
            os.chmod(target, mode)
        return
    if dest.endswith("/") or os.path.isdir(target):
        target = os.path.join(target, os.path.basename(source.name))
    _make_parents(os.path.dirname(target), identity)
    _copy_file(str(source.path), target, identity, mode)


def is_archive(path: Path) -> bool:
    """moby's isArchivePath: a tar header can be read after decompression."""
    try:
        with open(path, "rb") as raw, tarfile.open(fileobj=decompressed(raw), mode="r|") as tar:
            return tar.next() is not None
    except (OSError, EOFError, tarfile.TarError, ValueError):
        return False


def _make_parents(path: str, identity: Owner | None) -> None:
    """MkdirAll 0755; the folders made get the owner (MkdirAllAndChownNew)."""
    missing: list[str] = []
    while not os.path.lexists(path):
        missing.append(path)
        path = os.path.dirname(path)
    for folder in reversed(missing):
        os.mkdir(folder, 0o755)
        os.chmod(folder, 0o755)  # the umask must not narrow it
        if identity is not None:
            os.lchown(folder, *identity)


def _copy_directory(src: str, dst: str, identity: Owner | None, mode: int | None) -> None:
    existed = os.path.isdir(dst)
    _make_parents(dst, None)  # CopyWithTar makes these as root
    if not existed and identity is not None:
        os.lchown(dst, *identity)
    if not existed and mode is not None:
        os.chmod(dst, mode)
    links: dict[tuple[int, int], str] = {}
    dir_times: list[tuple[str, int]] = []
    _copy_tree(src, dst, identity, mode, links, dir_times)
    for path, mtime in reversed(dir_times):
        os.utime(path, ns=(mtime, mtime), follow_symlinks=False)


def _copy_tree(
    src: str,
    dst: str,
    identity: Owner | None,
    mode: int | None,
    links: dict[tuple[int, int], str],
    dir_times: list[tuple[str, int]],
) -> None:
    for entry in sorted(os.listdir(src)):
        from_path, to_path = os.path.join(src, entry), os.path.join(dst, entry)
        st = os.lstat(from_path)
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFSOCK:
            continue  # moby's tar skips sockets
        _clear(to_path, keep_dir=kind == stat.S_IFDIR)
        if kind == stat.S_IFDIR:
            if not os.path.isdir(to_path):
                os.mkdir(to_path, 0o700)
            _finish(to_path, st, identity, mode)
            _copy_tree(from_path, to_path, identity, mode, links, dir_times)
            dir_times.append((to_path, _seconds(st)))
            continue
        key = (st.st_dev, st.st_ino)
        if kind == stat.S_IFREG and st.st_nlink > 1 and key in links:
            os.link(links[key], to_path)
            continue
        if kind == stat.S_IFREG:
            _write(from_path, to_path)
            links[key] = to_path
        elif kind == stat.S_IFLNK:
            os.symlink(os.readlink(from_path), to_path)
        elif kind == stat.S_IFIFO:
            os.mkfifo(to_path, 0o600)
        else:
            os.mknod(to_path, kind | 0o600, st.st_rdev)
        _finish(to_path, st, identity, mode)
        _copy_capability(from_path, to_path, kind)
        os.utime(to_path, ns=(_seconds(st), _seconds(st)), follow_symlinks=False)


def _copy_file(src: str, dst: str, identity: Owner | None, mode: int | None) -> None:
    st = os.stat(src)
    _clear(dst, keep_dir=False)
    _write(src, dst)
    _finish(dst, st, identity, mode)
    mtime = _seconds(st)
    os.utime(dst, ns=(mtime, mtime))


def _clear(path: str, keep_dir: bool) -> None:
    """Untar's rule: what is there goes, unless both are directories."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir:
            shutil.rmtree(path)
    else:
        os.unlink(path)


def _finish(path: str, st: os.stat_result, identity: Owner | None, mode: int | None) -> None:
    uid, gid = identity if identity is not None else (st.st_uid, st.st_gid)
    os.lchown(path, uid, gid)
    if not stat.S_ISLNK(st.st_mode):
        # after the chown, which clears set-id bits
        os.chmod(path, mode if mode is not None else stat.S_IMODE(st.st_mode))


def _seconds(st: os.stat_result) -> int:
    # moby's tar headers carry whole seconds
    return st.st_mtime_ns // 1_000_000_000 * 1_000_000_000


def _write(src: str, dst: str) -> None:
    fd_in = os.open(src, os.O_RDONLY)
    try:
        fd_out = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            _copy_bytes(fd_in, fd_out, os.fstat(fd_in).st_size)
        finally:
            os.close(fd_out)
    finally:
        os.close(fd_in)


def _copy_bytes(fd_in: int, fd_out: int, size: int) -> None:
    """In the kernel where it can (copy_file_range, else sendfile)."""
    copied = 0
    try:
        while copied < size:
            n = os.copy_file_range(fd_in, fd_out, size - copied)
            if n == 0:
                break
            copied += n
        return
    except OSError as err:
        if err.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while copied < size:
        n = os.sendfile(fd_out, fd_in, copied, min(size - copied, 1 << 30))
        if n == 0:
            break
        copied += n


def _copy_capability(src: str, dst: str, kind: int) -> None:
    if kind != stat.S_IFREG:
        return
    try:
        value = os.getxattr(src, CAPABILITY_XATTR, follow_symlinks=False)
    except OSError:
        return
    os.setxattr(dst, CAPABILITY_XATTR, value, follow_symlinks=False)


# --- the flags ---------------------------------------------------------------


def resolve_owner(rootfs: Path, chown: str) -> Owner | None:
    """--chown=user[:group] as moby's parseChownFlag reads it: numbers as
    they are, names from the rootfs's /etc/passwd and /etc/group, and a
    lone user also names the group (`--chown=1000` is 1000:1000)."""
    if not chown:
        return None
    prefix = "unable to convert uid/gid chown string to host mapping: "
    parts = chown.split(":")
    if len(parts) > 2:
        raise CopyError(f"{prefix}invalid chown string format: {chown}")
    user, group = (parts[0], parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    root = str(rootfs)
    uid = _lookup(user, scoped(root, "etc/passwd"), 2)
    if uid is None:
        raise CopyError(f"{prefix}can't find uid for user {user}: no such user: {user}")
    gid = _lookup(group, scoped(root, "etc/group"), 2)
    if gid is None:
        raise CopyError(f"{prefix}can't find gid for group {group}: no such group: {group}")
    return uid, gid


def _lookup(name: str, table: str, column: int) -> int | None:
    if _NUMBER.fullmatch(name):
        return int(name)
    prefix = "unable to convert uid/gid chown string to host mapping: "
    try:
        with open(table, encoding="utf-8", errors="surrogateescape") as lines:
            for line in lines:
                fields = line.strip().split(":")
                if fields[0] == name and len(fields) > column:
                    number = fields[column]
                    return int(number) if _NUMBER.fullmatch(number) else 0
    except FileNotFoundError:
        what = "uid for user" if table.endswith("passwd") else "gid for group"
        raise CopyError(
            f"{prefix}can't find {what} {name}: open {table}: no such file or directory"
        ) from None
    return None


def parse_chmod(chmod: str) -> int | None:
    """--chmod as BuildKit reads it: octal, at most 07777. (dockerd's classic
    builder refuses the flag with CHMOD_REQUIRES_BUILDKIT.)"""
    if not chmod:
        return None
    try:
        value = int(chmod, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777 or not chmod.isascii():
        raise InvalidArgument(
            f"invalid chmod parameter: '{chmod}'. it should be octal string and between 0 and 07777"
        )
    return value
