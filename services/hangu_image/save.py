"""`docker save`: images as one tarball that is both an OCI image layout
and a docker-archive (manifest.json), as Docker 25+ writes it. Layer blobs
go out exactly as stored (so diff ids and the image id are preserved), and
the tar is produced by a writer thread into a bounded queue, so a large
image streams without being held in memory."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from hangu_runtime.errors import NotFound

from .diff import stream_tar
from .images import ImageStore, ImageView
from .reference import is_full_id, parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
CHUNK = 1 << 20
MTIME = 0


def layer_blobs(store: ImageStore, view: ImageView) -> list[tuple[str, int, str]]:
    """(digest, size, media type) of each layer's stored blob, base first."""
    out = []
    for chain_id in view.record.chain_ids:
        rec = store.layers.get(chain_id)
        if rec is None or not rec.blob_digest or not store.content.has(rec.blob_digest):
            raise NotFound(f"the blob of layer {chain_id} of {view.id} is not available")
        with store.content.open(rec.blob_digest) as fh:
            head = fh.read(4)
        media = (
            OCI_LAYER_GZIP
            if head[:2] == b"\x1f\x8b"
            else OCI_LAYER_ZSTD
            if head == b"\x28\xb5\x2f\xfd"
            else OCI_LAYER
        )
        out.append((rec.blob_digest, store.content.size(rec.blob_digest), media))
    return out


def oci_manifest(view: ImageView, layers: list[tuple[str, int, str]]) -> bytes:
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": view.id, "size": len(view.config_json)},
        "layers": [{"mediaType": m, "digest": d, "size": s} for d, s, m in layers],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def save(
    store: ImageStore, references: list[str], stop: threading.Event | None = None
) -> Iterator[bytes]:
    # Resolve everything first: a missing image is an error before any byte.
    chosen: dict[str, tuple[ImageView, list[str]]] = {}
    for text in references:
        view = store.view(store.resolve(text))
        tags = chosen.setdefault(view.id, (view, []))[1]
        if not is_full_id(text) and not view.id.removeprefix("sha256:").startswith(
            text.removeprefix("sha256:")
        ):
            ref = parse(text)
            if not ref.digest:
                name = ref.with_default_tag().familiar
                if name not in tags:
                    tags.append(name)
    plan = [(view, tags, layer_blobs(store, view)) for view, tags in chosen.values()]

    return stream_tar(lambda out: _write(store, plan, out), stop)


def _write(
    store: ImageStore,
    plan: list[tuple[ImageView, list[str], list[tuple[str, int, str]]]],
    writer: BinaryIO,
) -> None:
    written: set[str] = set()
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(info)

        def add_bytes(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, MTIME
            tar.addfile(info, io.BytesIO(data))

        def add_blob(digest: str) -> None:
            if digest in written:
                return
            written.add(digest)
            info = tarfile.TarInfo(f"blobs/sha256/{digest.removeprefix('sha256:')}")
            info.size, info.mode, info.mtime = store.content.size(digest), 0o644, MTIME
            with store.content.open(digest) as fh:
                tar.addfile(info, fh)

        index: list[dict[str, Any]] = []
        docker_manifest: list[dict[str, Any]] = []
        for view, tags, layers in plan:
            for digest, _, _ in layers:
                add_blob(digest)
            if view.id not in written:
                written.add(view.id)
                add_bytes(f"blobs/sha256/{view.id.removeprefix('sha256:')}", view.config_json)
            raw = oci_manifest(view, layers)
            mdigest = "sha256:" + hashlib.sha256(raw).hexdigest()
            if mdigest not in written:
                written.add(mdigest)
                add_bytes(f"blobs/sha256/{mdigest.removeprefix('sha256:')}", raw)
            desc = {"mediaType": OCI_MANIFEST, "digest": mdigest, "size": len(raw)}
            for tag in tags or [""]:
                entry = dict(desc)
                if tag:
                    ref = parse(tag)
                    entry["annotations"] = {
                        "io.containerd.image.name": str(ref),
                        "org.opencontainers.image.ref.name": ref.tag,
                    }
                index.append(entry)
            store.events.emit("save", view.id, name=view.id)
            docker_manifest.append(
                {
                    "Config": f"blobs/sha256/{view.id.removeprefix('sha256:')}",
                    "RepoTags": tags or None,
                    "Layers": [f"blobs/sha256/{d.removeprefix('sha256:')}" for d, _, _ in layers],
                }
            )
        add_bytes(
            "index.json",
            json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": index,
                }
            ).encode(),
        )
        add_bytes("manifest.json", json.dumps(docker_manifest).encode())
        add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        # The legacy `repositories` file, as Docker 25+ still writes it:
        # repository -> tag -> top layer's v1 id (here its chain id hex).
        repos: dict[str, dict[str, str]] = {}
        for view, tags, layers in plan:
            top = view.record.chain_ids[-1].removeprefix("sha256:") if layers else ""
            for tag in tags:
                ref = parse(tag)
                if ref.tag and top:
                    repos.setdefault(ref.familiar_name, {})[ref.tag] = top
        if repos:
            add_bytes("repositories", json.dumps(repos).encode())
