"""Test images built from Debian's busybox-static, written as an OCI image
layout or a docker-archive tarball.

Everything is deterministic (fixed mtimes, owners, order, gzip header), so
the same host produces the same layer digests and image ID every time.
`build_image` is generic: tests that need multi-layer images (whiteouts,
hard links, many layers) pass their own layer tars."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import subprocess
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
MTIME = 1704067200  # 2024-01-01T00:00:00Z
CREATED = "2024-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- layer tars


class LayerBuilder:
    """Builds one uncompressed layer tar in memory with fixed metadata."""

    def __init__(self) -> None:
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)

    def _info(
        self, name: str, kind: bytes, mode: int, uid: int = 0, gid: int = 0
    ) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name.lstrip("/"))
        info.type = kind
        info.mode = mode
        info.mtime = MTIME
        info.uid, info.gid = uid, gid
        info.uname = info.gname = ""
        return info

    def dir(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> LayerBuilder:
        self._tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid))
        return self

    def file(
        self,
        name: str,
        data: bytes,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        xattrs: dict[str, str] | None = None,
    ) -> LayerBuilder:
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        info.size = len(data)
        if xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
        self._tar.addfile(info, io.BytesIO(data))
        return self

    def symlink(self, name: str, target: str) -> LayerBuilder:
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self._tar.addfile(info)
        return self

    def hardlink(self, name: str, target: str) -> LayerBuilder:
        info = self._info(name, tarfile.LNKTYPE, 0o755)
        info.linkname = target.lstrip("/")
        self._tar.addfile(info)
        return self

    def device(
        self, name: str, char: bool, major: int, minor: int, mode: int = 0o666
    ) -> LayerBuilder:
        info = self._info(name, tarfile.CHRTYPE if char else tarfile.BLKTYPE, mode)
        info.devmajor, info.devminor = major, minor
        self._tar.addfile(info)
        return self

    def fifo(self, name: str, mode: int = 0o644) -> LayerBuilder:
        self._tar.addfile(self._info(name, tarfile.FIFOTYPE, mode))
        return self

    def whiteout(self, name: str) -> LayerBuilder:
        head, _, base = name.strip("/").rpartition("/")
        return self.file(f"{head}/.wh.{base}" if head else f".wh.{base}", b"")

    def opaque(self, directory: str) -> LayerBuilder:
        return self.file(f"{directory.strip('/')}/.wh..wh..opq", b"")

    def raw(self, info: tarfile.TarInfo, data: bytes = b"") -> LayerBuilder:
        """Add an entry as given (for malicious-tar tests)."""
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data) if data else None)
        return self

    def build(self) -> bytes:
        self._tar.close()
        return self._buf.getvalue()


def busybox_layer() -> bytes:
    """The busybox root filesystem as one uncompressed layer tar."""
    out = subprocess.run(
        [str(BUSYBOX), "--list-full"], check=True, capture_output=True, text=True
    ).stdout
    applets = sorted({line.strip() for line in out.splitlines() if line.strip()} - {"bin/busybox"})
    dirs = {
        "bin",
        "dev",
        "etc",
        "home",
        "proc",
        "root",
        "sys",
        "tmp",
        "usr",
        "usr/bin",
        "usr/sbin",
        "sbin",
        "var",
        "var/spool",
        "var/spool/mail",
        "var/www",
    }
    for applet in applets:
        parent = os.path.dirname(applet)
        while parent:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    layer = LayerBuilder()
    for d in sorted(dirs):
        layer.dir(
            d,
            mode={"tmp": 0o1777, "root": 0o700}.get(d, 0o755),
            uid=65534 if d == "home" else 0,
            gid=65534 if d == "home" else 0,
        )
    layer.file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for applet in applets:
        layer.hardlink(applet, "bin/busybox")
    layer.file(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\n"
        b"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
        b"nobody:x:65534:65534:nobody:/home:/bin/false\n",
    )
    layer.file("etc/group", b"root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n")
    layer.file(
        "etc/shadow", b"root:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n", mode=0o640
    )
    return layer.build()


def gzip_bytes(data: bytes) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


# ---------------------------------------------------------------- images


@dataclass
class Image:
    """An image held in memory: uncompressed layer tars plus its config."""

    layers: list[bytes]
    config: dict[str, object] = field(default_factory=dict)
    compressed: list[bytes] = field(default_factory=list)

    @property
    def diff_ids(self) -> list[str]:
        return [sha256(layer) for layer in self.layers]

    @property
    def config_bytes(self) -> bytes:
        return json.dumps(self.config, separators=(",", ":"), sort_keys=True).encode()

    @property
    def id(self) -> str:
        return sha256(self.config_bytes)

    def manifest(self) -> tuple[bytes, dict[str, object]]:
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.id, "size": len(self.config_bytes)},
            "layers": [
                {"mediaType": OCI_LAYER_GZIP, "digest": sha256(blob), "size": len(blob)}
                for blob in self.compressed
            ],
        }
        raw = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        return raw, manifest

    @property
    def manifest_digest(self) -> str:
        return sha256(self.manifest()[0])


def build_image(
    layers: Iterable[bytes],
    cmd: list[str] | None = None,
    extra_config: dict[str, object] | None = None,
    arch: str | None = None,
) -> Image:
    layers = list(layers)
    image = Image(layers=layers, compressed=[gzip_bytes(layer) for layer in layers])
    container_config: dict[str, object] = {"Env": [PATH_ENV], "Cmd": cmd or ["sh"]}
    container_config.update(extra_config or {})
    image.config = {
        "architecture": arch or host_arch(),
        "os": "linux",
        "created": CREATED,
        "config": container_config,
        "rootfs": {"type": "layers", "diff_ids": image.diff_ids},
        "history": [
            {"created": CREATED, "created_by": f"hangu test layer {i}"} for i in range(len(layers))
        ],
    }
    return image


def busybox_image() -> Image:
    return build_image([busybox_layer()], cmd=["sh"])


# ---------------------------------------------------------------- writers


def _write_blob(blobs: Path, data: bytes) -> str:
    digest = sha256(data)
    path = blobs / digest.removeprefix("sha256:")
    if not path.exists():
        path.write_bytes(data)
    return digest


def write_oci_layout(image: Image, directory: Path, tag: str = "latest") -> Path:
    """Write `image` as an OCI image layout (index.json, oci-layout, blobs/)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    for blob in image.compressed:
        _write_blob(blobs, blob)
    _write_blob(blobs, image.config_bytes)
    raw_manifest, _ = image.manifest()
    digest = _write_blob(blobs, raw_manifest)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(raw_manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    return directory


OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def write_oci_index_layout(images: dict[str, Image], directory: Path, tag: str = "latest") -> Path:
    """A multi-platform image: an OCI index over one manifest per platform
    ("linux/amd64", "linux/arm64/v8", ...), tagged `tag`."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    manifests = []
    for plat, image in images.items():
        for blob in image.compressed:
            _write_blob(blobs, blob)
        _write_blob(blobs, image.config_bytes)
        raw, _ = image.manifest()
        parts = plat.split("/")
        platform_desc = {"os": parts[0], "architecture": parts[1]}
        if len(parts) > 2:
            platform_desc["variant"] = parts[2]
        manifests.append(
            {
                "mediaType": OCI_MANIFEST,
                "digest": _write_blob(blobs, raw),
                "size": len(raw),
                "platform": platform_desc,
            }
        )
    index_raw = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}, sort_keys=True
    ).encode()
    digest = _write_blob(blobs, index_raw)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (directory / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": OCI_INDEX,
                        "digest": digest,
                        "size": len(index_raw),
                        "annotations": {"org.opencontainers.image.ref.name": tag},
                    }
                ],
            }
        )
    )
    return directory


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), MTIME, 0o644
    tar.addfile(info, io.BytesIO(data))


def write_docker_archive(image: Image, path: Path, repo_tags: list[str] | None = None) -> Path:
    """Write `image` as a docker-archive tarball (`docker save` format)."""
    repo_tags = ["busybox:latest"] if repo_tags is None else repo_tags
    config_name = image.id.removeprefix("sha256:") + ".json"
    layer_names = [f"{d.removeprefix('sha256:')}/layer.tar" for d in image.diff_ids]
    manifest = [{"Config": config_name, "RepoTags": repo_tags, "Layers": layer_names}]
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, layer in zip(layer_names, image.layers, strict=True):
            dinfo = tarfile.TarInfo(os.path.dirname(name))
            dinfo.type, dinfo.mode, dinfo.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(dinfo)
            _add(tar, name, layer)
        _add(tar, config_name, image.config_bytes)
        _add(tar, "manifest.json", json.dumps(manifest).encode())
        repos: dict[str, dict[str, str]] = {}
        for ref in repo_tags:
            repo, _, tag = ref.rpartition(":")
            repos.setdefault(repo, {})[tag] = image.diff_ids[-1].removeprefix("sha256:")
        _add(tar, "repositories", json.dumps(repos).encode())
    return path


def write_oci_archive(
    image: Image, path: Path, tag: str = "latest", workdir: Path | None = None
) -> Path:
    """An OCI layout packed into a tarball (what `docker load` also accepts)."""
    import tempfile

    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        layout = write_oci_layout(image, Path(tmp) / "layout", tag)
        with tarfile.open(path, "w") as tar:
            for entry in sorted(layout.rglob("*")):
                tar.add(entry, arcname=str(entry.relative_to(layout)), recursive=False)
    return path
