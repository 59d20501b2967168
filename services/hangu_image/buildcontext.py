"""The context of a `docker build` as the classic builder receives it (moby's
builder/remotecontext): a tar, maybe compressed (gzip, bzip2, xz, zstd),
unpacked into a folder of its own as dockerd's chrooted untar does; the
Dockerfile found in it (the default name falls back to `dockerfile`); and
the Dockerfile and .dockerignore dropped from what COPY and ADD can see when
the context's own .dockerignore excludes them."""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from hangu_runtime.errors import InvalidArgument

from . import dockerignore
from .contexttar import ContentWatcher, unpack_context
from .unpack import inside_root

DEFAULT_DOCKERFILE = "Dockerfile"


class BuildContextError(InvalidArgument):
    """A context or Dockerfile the build cannot take, in dockerd's words
    (dockerd answers these with a 500; hangu with a 400: it is the input)."""


def extract(
    source: BinaryIO | Iterable[bytes], dest: Path, watcher: ContentWatcher | None = None
) -> None:
    """Unpack the context tar (a stream, or the chunks it arrives in) into
    the empty folder `dest`; `watcher` sees the files' contents pass."""
    try:
        unpack_context(source, dest, watcher)
    except (InvalidArgument, OSError, EOFError) as err:
        # gzip/xz/bzip2 streams cut short end as Go's reader ends them
        message = err.message if isinstance(err, InvalidArgument) else "unexpected EOF"
        raise BuildContextError(message) from None


def locate_dockerfile(root: Path, name: str = "") -> str:
    """The Dockerfile's path in the context (as `dockerfile=` names it,
    resolved inside the root), checked to be a file there."""
    asked = name or DEFAULT_DOCKERFILE
    rel = inside_root(asked)
    if rel and _is_file(root, rel):
        return rel
    if asked == DEFAULT_DOCKERFILE and _is_file(root, asked.lower()):
        return asked.lower()
    raise BuildContextError(f"Cannot locate specified Dockerfile: {asked}")


def read_dockerfile(root: Path, rel: str) -> str:
    """Its text, as UTF-8 (a BOM is the parser's to drop); `rel` as
    locate_dockerfile found it."""
    if not _is_file(root, rel):
        raise BuildContextError(f"Cannot locate specified Dockerfile: {rel}")
    return (root / rel).resolve(strict=True).read_bytes().decode("utf-8", "replace")


def apply_dockerignore(root: Path, dockerfile: str) -> int:
    """Remove what the context's .dockerignore excludes, as the docker CLI
    leaves it out of the tar it sends: a client that sent it anyway (curl,
    a tool of its own) gets the same build, and an ignored file never
    reaches a layer or a cache key. The Dockerfile and the .dockerignore
    follow dockerd's own rule (drop_build_files). How many paths went."""
    ignore = root / ".dockerignore"
    if not _is_file(root, ".dockerignore"):
        return 0
    matcher = dockerignore.Matcher.from_text(ignore.read_text("utf-8", "replace"))
    kept = set(dockerignore.walk(root, matcher)) | {".dockerignore", dockerfile}
    needed = set(kept)
    for path in kept:
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            needed.add(path)
    removed = 0
    for directory, dirs, files in os.walk(root, topdown=True):
        rel_dir = os.path.relpath(directory, root)
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in files:
            if prefix + name not in needed:
                os.unlink(os.path.join(directory, name))
                removed += 1
        for name in list(dirs):
            rel = prefix + name
            full = os.path.join(directory, name)
            if rel in needed:
                continue
            dirs.remove(name)
            if os.path.islink(full):
                os.unlink(full)
            else:
                shutil.rmtree(full)
            removed += 1
    return removed


def drop_build_files(root: Path, dockerfile: str) -> list[str]:
    """Remove the .dockerignore and the Dockerfile from the context when its
    .dockerignore excludes them (moby's removeDockerfile); what went."""
    ignore = root / ".dockerignore"
    if not _is_file(root, ".dockerignore"):
        return []
    patterns = dockerignore.read_patterns(ignore.read_text("utf-8", "replace"))
    removed = dockerignore.build_files_removed_by_daemon(patterns, dockerfile)
    for rel in removed:
        (root / rel).unlink(missing_ok=True)
    return removed


def _is_file(root: Path, rel: str) -> bool:
    """A regular file at `rel` that no symlink leads out of the context to."""
    path = root / rel
    try:
        real = path.resolve(strict=True)
        st = os.stat(real)
    except (OSError, RuntimeError):
        return False
    return real.is_relative_to(root.resolve()) and stat.S_ISREG(st.st_mode)
