"""COPY and ADD before anything is written: which files each source names,
and the cache identity Docker gives them (moby builder/dockerfile/copy.go).

A plan resolves every source inside `root` (the build context, or the
mounted rootfs of a stage or image for `COPY --from`): symlinks are
followed scoped to the root, never out of it; wildcards are Go's
filepath.Match against each path relative to the root; an ADD URL is
downloaded here, because its content is part of the identity.

The identity is dockerd's own, byte for byte where it can be: a file's sum is
tarsum v1 of its tar header (no mtime) and content. Context files are summed
as the docker CLI's tar carried them (mode without type bits, no user names,
hard links as links to the first name); a rootfs or a download as dockerd's
lazy source sums them (mode with type bits, user names from this host).
Checked against dockerd 20.10: `docker history --no-trunc` shows the same
`file:`, `dir:` and `multi:` hex for the same context."""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import shutil
import stat
import tarfile
import tempfile
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hangu_runtime.errors import InvalidArgument

from .. import gopattern
from ..unpack import CHUNK
from . import fetch

MAX_LINKS = 255
_PARALLEL_FROM = 256 << 10  # smaller files are summed in line
_POOL: concurrent.futures.ThreadPoolExecutor | None = None


def _hashers() -> concurrent.futures.ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="copy-sum"
        )
    return _POOL  # moby's symlink.FollowSymlinkInScope gives up after these


class CopyError(InvalidArgument):
    """A COPY or ADD dockerd refuses, in its words."""


@dataclass(frozen=True)
class Source:
    """One thing to copy. `name` is the path as the instruction gave it
    (after Docker's trimming) or as a wildcard matched it: its base name is
    the file's name at a directory destination. `path` is it resolved."""

    name: str
    path: Path
    digest: str  # "file:<hex>", "dir:<hex>", or "<hex>" for a download
    is_dir: bool
    from_url: bool = False


@dataclass
class CopyPlan:
    instruction: str  # "COPY" | "ADD"
    dest: str  # as written; the history shows it so
    target: str  # absolute in the rootfs, workdir applied, trailing "/" kept
    sources: tuple[Source, ...]
    from_context: bool
    _tmp: list[str] = field(default_factory=list, repr=False)

    @property
    def checksum(self) -> str:
        """What dockerd puts in the history and probes the cache with."""
        if len(self.sources) == 1:
            return self.sources[0].digest
        return _hash_list("multi", [s.digest for s in self.sources])

    def comment(self, chown: str = "") -> str:
        """`COPY file:<hex> in /dst ` as dockerd writes it, trailing space and
        all (and `--chown=` glued to the hash: dockerd forgets the space)."""
        chown_part = f"--chown={chown}" if chown else ""
        return f"{self.instruction} {chown_part}{self.checksum} in {self.dest} "

    def close(self) -> None:
        """Remove downloads (the plan owns them until then)."""
        for tmp in self._tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        self._tmp.clear()

    def __enter__(self) -> CopyPlan:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def plan(
    root: Path,
    sources: Sequence[str],
    dest: str,
    *,
    instruction: str,
    workdir: str = "/",
    from_context: bool = True,
    known: ContextSums | None = None,
    allow_urls: bool | None = None,
    timeout: float = fetch.TIMEOUT,
) -> CopyPlan:
    """Resolve `sources` for `COPY|ADD sources... dest`; raises CopyError."""
    allow = instruction == "ADD" if allow_urls is None else allow_urls
    resolver = _Resolver(str(root), from_context, known)
    result = CopyPlan(instruction, dest, normalize_dest(workdir, dest), (), from_context)
    found: list[Source] = []
    try:
        for orig in sources:
            if fetch.is_url(orig):
                if not allow:
                    raise CopyError(
                        f"{instruction} failed: source can't be a URL for {instruction}"
                    )
                found.append(_download(orig, dest, result, instruction, timeout))
            else:
                found.extend(resolver.sources(orig, instruction))
        if not found:
            raise CopyError(f"{instruction} failed: no source files were specified")
        if len(found) > 1 and not dest.endswith("/"):
            raise CopyError(
                f"When using {instruction} with more than one source file, "
                "the destination must be a directory and end with a /"
            )
    except BaseException:
        result.close()
        raise
    result.sources = tuple(found)
    return result


def normalize_dest(workdir: str, dest: str) -> str:
    """moby's normalizeDest: relative to WORKDIR, trailing slash kept."""
    if dest.startswith("/"):
        return dest
    joined = os.path.normpath(os.path.join("/", workdir, dest))
    joined = "/" + joined.lstrip("/")
    return joined + "/" if dest.endswith("/") and joined != "/" else joined


def _download(orig: str, dest: str, result: CopyPlan, instruction: str, timeout: float) -> Source:
    tmp = tempfile.mkdtemp(prefix="hangu-remote-")
    result._tmp.append(tmp)
    try:
        name = fetch.download(orig, Path(tmp), timeout=timeout)
    except fetch.FetchError as err:
        raise CopyError(f"{instruction} failed: {err}") from None
    if not name:
        if dest.endswith("/"):
            raise CopyError(f"{instruction} failed: cannot determine filename for source {orig}")
        name = fetch.UNNAMED
    summer = _Resolver(tmp, from_context=False)
    digest = summer.sum_of(name)
    return Source(name, Path(tmp, name), digest, is_dir=False, from_url=True)


# --- resolving sources -------------------------------------------------------


def _trim(orig: str) -> str:
    # moby's calcCopyInfo: one leading separator, then one "./"
    if len(orig) > 1 and orig.startswith("/"):
        orig = orig[1:]
    return orig.removeprefix("./")


def has_wildcards(name: str) -> bool:
    """moby's containsWildcards: `*`, `?` or `[` not escaped by `\\`."""
    i = 0
    while i < len(name):
        if name[i] == "\\":
            i += 1
        elif name[i] in "*?[":
            return True
        i += 1
    return False


def scoped(root: str, rel: str) -> str:
    """moby's symlink.FollowSymlinkInScope(root/rel, root): every symlink
    followed, an absolute one from `root`, `..` stopping at `root`."""
    parts = deque(p for p in rel.split("/") if p)
    resolved = ""
    links = 0
    while parts:
        part = parts.popleft()
        if part == ".":
            continue
        if part == "..":
            resolved = os.path.dirname(resolved)
            continue
        candidate = f"{resolved}/{part}" if resolved else part
        full = os.path.join(root, candidate)
        try:
            is_link = stat.S_ISLNK(os.lstat(full).st_mode)
        except OSError:
            is_link = False
        if not is_link:
            resolved = candidate
            continue
        links += 1
        if links > MAX_LINKS:
            raise CopyError(f"too many links in {full}")
        target = os.readlink(full)
        if target.startswith("/"):
            resolved = ""
        parts.extendleft(reversed([p for p in target.split("/") if p]))
    return os.path.join(root, resolved) if resolved else root


class ContextSums:
    """The sums of the context's big files, taken while the context was
    unpacked (a contexttar.ContentWatcher): the bytes pass once, while the
    client is still sending. A sum is kept only when the file, once made,
    has the header it was summed under; nothing writes to the build's own
    context folder after it is unpacked, so its contents cannot change."""

    def __init__(self) -> None:
        self._pending: dict[str, tuple[str, Any]] = {}
        self._done: dict[str, tuple[str, str]] = {}

    def start(self, rel: str, member: tarfile.TarInfo) -> Callable[[memoryview], object] | None:
        if member.size < _PARALLEL_FROM:
            return None
        header = _context_header(rel, member.mode & 0o7777, member.uid, member.gid, member.size)
        hasher = hashlib.sha256(header.encode("utf-8", "surrogateescape"))
        self._pending[rel] = (header, hasher)
        return hasher.update

    def done(self, rel: str, path: str) -> None:
        pending = self._pending.pop(rel, None)
        if pending is None:
            return
        st = os.lstat(path)
        if st.st_nlink != 1 or not stat.S_ISREG(st.st_mode):
            return
        real = _context_header(rel, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size)
        if real == pending[0]:
            self._done[rel] = (real, pending[1].hexdigest())

    def get(self, rel: str) -> tuple[str, str] | None:
        return self._done.get(rel)


def _context_header(rel: str, mode: int, uid: int, gid: int, size: int) -> str:
    """tarsum's header of a plain file of the context (see _tarsum)."""
    return (
        f"name{rel}mode{mode}uid{uid}gid{gid}size{size}typeflag0"
        "linknameunamegnamedevmajor0devminor0"
    )


class _Resolver:
    """Sources and sums inside one root; sums are cached per resolved path,
    as moby's source caches them."""

    def __init__(self, root: str, from_context: bool, known: ContextSums | None = None) -> None:
        self.root = root.rstrip("/") or "/"
        self.from_context = from_context
        self.known = known if from_context else None
        self.sums: dict[str, str] = {}
        self._first_names: dict[tuple[int, int], str] | None = None

    def _forbidden(self, rel: str, instruction: str) -> CopyError:
        return CopyError(
            f"{instruction} failed: forbidden path outside the build context: {rel} ()"
        )

    def _full(self, rel: str, instruction: str) -> str:
        joined = os.path.normpath(os.path.join(self.root, rel))
        if joined != self.root and not joined.startswith(self.root.rstrip("/") + "/"):
            raise self._forbidden(rel, instruction)
        return scoped(self.root, rel)

    def _rel(self, full: str) -> str:
        rel = os.path.relpath(full, self.root)
        return "" if rel == "." else rel

    def sources(self, orig: str, instruction: str) -> list[Source]:
        name = _trim(orig)
        if has_wildcards(name):
            return [self.single(rel, instruction) for rel in self._matches(name)]
        return [self.single(name, instruction)]

    def single(self, name: str, instruction: str) -> Source:
        full = self._full(name, instruction)
        try:
            st = os.stat(full)
        except OSError:
            where = (
                "file not found in build context or excluded by .dockerignore: "
                if self.from_context
                else ""
            )
            raise CopyError(
                f"{instruction} failed: {where}stat {name}: file does not exist"
            ) from None
        if not stat.S_ISDIR(st.st_mode):
            return Source(name, Path(full), "file:" + self.sum_of(name), is_dir=False)
        rels = list(self._walk_rels(full))
        self._prefetch(rels)
        subs = [self.sum_of(rel) for rel in rels]
        return Source(name, Path(full), _hash_list("dir", sorted(subs)), is_dir=True)

    def _prefetch(self, rels: Sequence[str]) -> None:
        """Sum the big plain files of a folder on every core at once (each
        file's sum stands alone; hashlib lets go of the GIL while it hashes)."""
        jobs: list[tuple[str, str, os.stat_result]] = []
        for rel in rels:
            full = scoped(self.root, rel)
            resolved = self._rel(full)
            if resolved in self.sums:
                continue
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_size >= _PARALLEL_FROM:
                jobs.append((resolved, full, st))
        if len(jobs) < 2:
            return
        sums = _hashers().map(lambda job: self._tarsum(*job), jobs)
        for (resolved, _, _), digest in zip(jobs, sums, strict=True):
            self.sums[resolved] = digest

    def _walk_rels(self, top: str) -> Iterator[str]:
        """Go's filepath.Walk from `top` (lexical, symlinks not followed),
        as paths relative to the root, the root itself left out."""
        rel = self._rel(top)
        if rel:
            yield rel
        for path in _walk(top):
            yield self._rel(path)

    def _matches(self, pattern: str) -> Iterator[str]:
        """Go's Walk of the whole root filtered by the pattern, descending
        only where a prefix of the pattern can still match."""
        elements = pattern.split("/")

        def visit(directory: str, prefix: str, depth: int) -> Iterator[str]:
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                return
            for entry in names:
                rel = f"{prefix}{entry}"
                if not gopattern.match(elements[depth], entry):
                    continue
                full = os.path.join(directory, entry)
                if depth == len(elements) - 1:
                    yield rel
                elif os.path.isdir(full) and not os.path.islink(full):
                    yield from visit(full, rel + "/", depth + 1)

        return visit(self.root, "", 0)

    def sum_of(self, rel: str) -> str:
        """moby's Source.Hash(rel): the sum of what `rel` resolves to."""
        full = scoped(self.root, rel)
        resolved = self._rel(full)
        try:
            st = os.lstat(full)
        except OSError:
            # dockerd's fallback for a dangling link: a path stands for the sum
            return rel if self.from_context else resolved
        if resolved not in self.sums:
            self.sums[resolved] = self._tarsum(resolved, full, st)
        return self.sums[resolved]

    def _tarsum(self, rel: str, full: str, st: os.stat_result) -> str:
        hasher = hashlib.sha256()
        kind = stat.S_IFMT(st.st_mode)
        link = ""
        size = st.st_size if kind == stat.S_IFREG else 0
        flag = _TYPEFLAGS.get(kind, "0")
        if kind == stat.S_IFLNK:
            link = os.readlink(full)
        if self.from_context:
            mode = stat.S_IMODE(st.st_mode)
            uname = gname = ""
            if kind == stat.S_IFREG and st.st_nlink > 1:
                first = self._first_name(st, rel)
                if first != rel:
                    flag, link, size = "1", first, 0
        else:
            mode = stat.S_IMODE(st.st_mode) | kind
            uname, gname = _host_user(st.st_uid), _host_group(st.st_gid)
        name = rel + "/" if kind == stat.S_IFDIR else rel
        major = minor = 0
        if kind in (stat.S_IFCHR, stat.S_IFBLK):
            major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        header = (
            f"name{name}mode{mode}uid{st.st_uid}gid{st.st_gid}size{size}typeflag{flag}"
            f"linkname{link}uname{uname}gname{gname}devmajor{major}devminor{minor}"
        )
        if self.known is not None:
            seen = self.known.get(rel)
            if seen is not None and seen[0] == header:
                return seen[1]
        hasher.update(header.encode("utf-8", "surrogateescape"))
        if size:
            with open(full, "rb") as src:
                while chunk := src.read(CHUNK):
                    hasher.update(chunk)
        return hasher.hexdigest()

    def _first_name(self, st: os.stat_result, rel: str) -> str:
        """The name the CLI's tar carried a hard-linked file's content under:
        the first one in its walk of the whole context."""
        if self._first_names is None:
            self._first_names = {}
            for path in _walk(self.root):
                try:
                    other = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISREG(other.st_mode) and other.st_nlink > 1:
                    self._first_names.setdefault((other.st_dev, other.st_ino), self._rel(path))
        return self._first_names.get((st.st_dev, st.st_ino), rel)


_TYPEFLAGS = {
    stat.S_IFREG: "0",
    stat.S_IFLNK: "2",
    stat.S_IFCHR: "3",
    stat.S_IFBLK: "4",
    stat.S_IFDIR: "5",
    stat.S_IFIFO: "6",
}


def _walk(top: str) -> Iterator[str]:
    """Pre-order, names sorted, symlinks not followed; `top` left out."""
    try:
        names = sorted(os.listdir(top))
    except OSError:
        return
    for entry in names:
        path = os.path.join(top, entry)
        yield path
        if os.path.isdir(path) and not os.path.islink(path):
            yield from _walk(path)


def _hash_list(prefix: str, items: Sequence[str]) -> str:
    return f"{prefix}:" + hashlib.sha256(",".join(items).encode()).hexdigest()


def _host_user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return ""


def _host_group(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return ""
