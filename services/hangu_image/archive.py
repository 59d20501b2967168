"""`docker load` (docker-archive and OCI layout tarballs) and `docker
import` (a root filesystem tarball becomes a one-layer image).

The archive arrives as a stream of chunks. Its files are staged on disk
(never in memory) because a docker-archive may put manifest.json last;
a file that reads as a layer is unpacked while it is staged (one pass over
the archive), the others once the manifest says which file is which layer;
the staging dir is removed, success or not."""

from __future__ import annotations

import io
import json
import os
import platform as _platform
import secrets
import shutil
import tarfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from hangu_runtime.errors import InvalidArgument

from .changes import apply_changes
from .images import ImageStore
from .layers import chain_ids
from .platforms import host_platform, select_manifest
from .progress import ProgressEvent, Throttled
from .reference import Reference, parse, parse_repository_tag
from .registry import INDEX_TYPES
from .unpack import (
    ChunkReader,
    HashingReader,
    LayerError,
    UnpackResult,
    clean_name,
    decompressed,
    unpack,
)

CHUNK = 1 << 20


class _Tee(HashingReader):
    """Hashes what passes and keeps a copy in `copy` (the blob to store)."""

    def __init__(self, src: io.RawIOBase, copy: BinaryIO) -> None:
        super().__init__(src)  # type: ignore[arg-type]
        self.copy = copy

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        n = super().readinto(buf)
        if n:
            self.copy.write(bytes(buf[:n]))
        return n


@dataclass
class _Unpacked:
    """A file of the archive that read as a layer and was unpacked while it
    was staged: its work dir (work/diff), what unpacking found, its digest."""

    work: Path
    result: UnpackResult
    blob_digest: str


def _looks_like_layer(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b" or head[:4] == b"\x28\xb5\x2f\xfd" or head[257:262] == b"ustar"


def _stage_file(
    data: IO[bytes], path: Path, size: int, scratch: Path | None, unpacked: dict[Path, _Unpacked]
) -> None:
    """Write one archive member to `path`. A member that looks like a layer
    (gzip, zstd or tar) is unpacked on the way into `scratch`: the archive
    is read once, not staged and then read again. If it is not a layer after
    all, only the staged copy stays."""
    head = b""
    # tarfile hands out members as BufferedReaders (ExFileObject): peekable.
    if scratch is not None and size >= 512 and isinstance(data, io.BufferedReader):
        head = data.peek(512)[:512]
    with open(path, "wb") as out:
        if not _looks_like_layer(head):
            shutil.copyfileobj(data, out, CHUNK)
            return
        assert scratch is not None
        tee = _Tee(data, out)  # type: ignore[arg-type]
        work = scratch / secrets.token_hex(8)
        (work / "diff").mkdir(parents=True)
        try:
            result = unpack(decompressed(io.BufferedReader(tee, CHUNK)), work / "diff")
        except (LayerError, OSError, EOFError, ValueError, ImportError, tarfile.TarError):
            shutil.rmtree(work, ignore_errors=True)
            tee.drain()
            return
        tee.drain()
        unpacked[path] = _Unpacked(work, result, tee.digest)


def _stage(
    src: BinaryIO,
    dest: Path,
    scratch: Path | None = None,
    unpacked: dict[Path, _Unpacked] | None = None,
) -> dict[str, str]:
    """Write the archive's files under `dest`; returns its symlinks."""
    links: dict[str, str] = {}
    unpacked = {} if unpacked is None else unpacked
    try:
        with tarfile.open(fileobj=src, mode="r|*") as tar:
            for member in tar:
                name = clean_name(member.name)
                if not name:
                    continue
                path = dest / name
                if member.isdir():
                    path.mkdir(parents=True, exist_ok=True)
                elif member.isreg():
                    path.parent.mkdir(parents=True, exist_ok=True)
                    data = tar.extractfile(member)
                    if data is None:
                        path.touch()
                    else:
                        _stage_file(data, path, member.size, scratch, unpacked)
                elif member.issym() or member.islnk():
                    base = os.path.dirname(name) if member.issym() else ""
                    links[name] = clean_name(os.path.join(base, member.linkname))
    except tarfile.TarError as err:
        raise InvalidArgument(f"invalid archive: {err}") from err
    return links


class _Staged:
    def __init__(self, root: Path, links: dict[str, str]) -> None:
        self.root, self.links = root, links

    def path(self, name: str) -> Path:
        name = clean_name(name)
        for _ in range(16):
            if name not in self.links:
                break
            name = self.links[name]
        path = self.root / name
        if not path.is_file():
            raise InvalidArgument(f"invalid archive: {name} is missing")
        return path

    def exists(self, name: str) -> bool:
        return (self.root / clean_name(name)).exists() or clean_name(name) in self.links

    def json(self, name: str) -> Any:
        return json.loads(self.path(name).read_bytes())


def load(store: ImageStore, chunks: Iterable[bytes], quiet: bool) -> Iterator[ProgressEvent]:
    staging = Path(os.path.realpath(store.layers.tmp)) / f"load-{secrets.token_hex(8)}"
    files, scratch = staging / "files", staging / "unpacked"
    files.mkdir(parents=True)
    scratch.mkdir()
    unpacked: dict[Path, _Unpacked] = {}
    try:
        links = _stage(io.BufferedReader(ChunkReader(chunks), CHUNK), files, scratch, unpacked)
        staged = _Staged(files, links)
        if staged.exists("manifest.json"):
            images = _docker_archive(staged)
        elif staged.exists("index.json"):
            images = _oci_layout(staged)
        else:
            raise InvalidArgument("invalid archive: no manifest.json or index.json found")
        adopt: dict[Path, str] = {}
        created: list[str] = []
        try:
            for config_path, layer_paths, tags in images:
                yield from _load_one(
                    store, staged, config_path, layer_paths, tags, quiet, adopt, created, unpacked
                )
        except BaseException:
            # Layers this load unpacked but no image took: gone again.
            store.layers.collect(created)
            raise
        for path, digest in adopt.items():
            store.content.adopt(path, digest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _docker_archive(staged: _Staged) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for entry in staged.json("manifest.json"):
        out.append(
            (
                str(entry["Config"]),
                [str(p) for p in entry.get("Layers") or []],
                [str(t) for t in entry.get("RepoTags") or []],
            )
        )
    return out


def _blob(digest: str) -> str:
    algo, _, hexd = digest.partition(":")
    return f"blobs/{algo}/{hexd}"


def _oci_layout(staged: _Staged) -> list[tuple[str, list[str], list[str]]]:
    out = []
    for desc in staged.json("index.json").get("manifests") or []:
        annotations = desc.get("annotations") or {}
        # Docker writes the full name in containerd's annotation; the OCI
        # ref.name is often just a tag, which names nothing on its own.
        name = annotations.get("io.containerd.image.name", "")
        ref_name = annotations.get("org.opencontainers.image.ref.name", "")
        if not name and ("/" in ref_name or ":" in ref_name):
            name = ref_name
        manifest = staged.json(_blob(desc["digest"]))
        if desc.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            desc = select_manifest(manifest, host_platform())
            manifest = staged.json(_blob(desc["digest"]))
        out.append(
            (
                _blob(manifest["config"]["digest"]),
                [_blob(layer["digest"]) for layer in manifest.get("layers") or []],
                [name] if name else [],
            )
        )
    return out


def _loading(events: list[ProgressEvent], short: str, total: int) -> Callable[[int], None]:
    def report(n: int) -> None:
        events.append(
            ProgressEvent(id=short, status="Loading layer", current=n, total=total, detail=True)
        )

    return report


def _load_one(
    store: ImageStore,
    staged: _Staged,
    config_path: str,
    layer_paths: list[str],
    tags: list[str],
    quiet: bool,
    adopt: dict[Path, str],
    created: list[str],
    unpacked: dict[Path, _Unpacked],
) -> Iterator[ProgressEvent]:
    config_raw = staged.path(config_path).read_bytes()
    config = json.loads(config_raw)
    diff_ids = list((config.get("rootfs") or {}).get("diff_ids") or [])
    if len(diff_ids) != len(layer_paths):
        raise InvalidArgument("invalid archive: config and manifest disagree on layers")
    chain = chain_ids(diff_ids)
    events: list[ProgressEvent] = []
    for i, path in enumerate(layer_paths):
        if store.layers.exists(chain[i]):
            continue
        file = staged.path(path)
        total = file.stat().st_size
        short = diff_ids[i].removeprefix("sha256:")[:12]
        early = unpacked.pop(file, None)
        if early is not None:
            # Unpacked while staged: check it is the layer the config names.
            if early.result.diff_id != diff_ids[i]:
                raise InvalidArgument(
                    f"invalid archive: layer {path}: diff id mismatch: expected "
                    f"{diff_ids[i]}, got {early.result.diff_id}"
                )
            store.layers.install(
                chain[i], chain[i - 1] if i else "", early.work, early.result, early.blob_digest
            )
            digest = early.blob_digest
        else:
            progress = Throttled(_loading(events, short, total))
            with open(file, "rb") as fh:
                blob = HashingReader(fh, progress)
                store.layers.add(
                    chain[i], chain[i - 1] if i else "", diff_ids[i], io.BufferedReader(blob, CHUNK)
                )
                blob.drain()
            digest = blob.digest
        # Keep the layer's blob for save/push: moved out of the staging dir
        # once every image of the archive is in (a file may serve again).
        adopt[file] = digest
        created.append(chain[i])
        store.layers.set_blob(chain[i], digest)
        if not quiet:
            yield from events
            yield ProgressEvent(
                id=short, status="Loading layer", current=total, total=total, detail=True
            )
        events.clear()
    rec = store.register(config_raw, chain)
    refs: list[Reference] = []
    for tag in tags:
        ref = parse(tag)
        refs.append(ref if ref.tag or ref.digest else ref.with_default_tag())
    for ref in refs:
        store.set_ref(ref, rec.id)
        store.events.emit("tag", rec.id, name=ref.familiar)
    store.events.emit("load", rec.id, name=rec.id)
    if refs:
        for ref in refs:
            yield ProgressEvent(stream=f"Loaded image: {ref.familiar}\n")
    else:
        yield ProgressEvent(stream=f"Loaded image ID: {rec.id}\n")


def import_rootfs(
    store: ImageStore,
    chunks: Iterable[bytes],
    repository: str = "",
    tag: str = "",
    message: str = "",
    changes: list[str] | None = None,
    architecture: str = "",
    os_name: str = "linux",
) -> ProgressEvent:
    ref = parse_repository_tag(repository, tag).with_default_tag() if repository else None
    fd, tmp = store.content.ingest_file()
    try:
        with os.fdopen(fd, "wb") as copy:
            tee = _Tee(ChunkReader(chunks), copy)
            layer = store.layers.add_base(io.BufferedReader(tee, CHUNK))
            tee.drain()
        store.content.adopt(Path(tmp), tee.digest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    store.layers.set_blob(layer.chain_id, tee.digest)
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    config: dict[str, Any] = {
        "architecture": architecture or host_platform().architecture or _platform.machine(),
        "os": os_name or "linux",
        "created": now,
        "comment": message or "Imported from -",
        "config": apply_changes({}, changes or []),
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id]},
        "history": [{"created": now, "comment": message or "Imported from -"}],
    }
    raw = json.dumps(config, separators=(",", ":")).encode()
    rec = store.register(raw, [layer.chain_id])
    if ref is not None:
        store.set_ref(ref, rec.id)
    store.events.emit("import", rec.id, name=rec.id)
    if ref is not None:
        store.events.emit("tag", rec.id, name=ref.familiar)
    return ProgressEvent(status=rec.id)
