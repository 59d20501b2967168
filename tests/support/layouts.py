"""OCI layouts whose layers are zstd-compressed or not compressed at all
(busybox.py writes gzip ones), and random-content images for tests that
need bytes on the wire (big layers, throttled pulls)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.support.busybox import Image, LayerBuilder, build_image, sha256

OCI_LAYER = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def compress(data: bytes, how: str) -> bytes:
    if how == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(data)
    if how == "none":
        return data
    from tests.support.busybox import gzip_bytes

    return gzip_bytes(data)


def write_layout(image: Image, directory: Path, how: str, tag: str = "latest") -> Path:
    """`image` as an OCI layout with every layer compressed `how`
    ("gzip", "zstd" or "none"); the config (and so the image ID) is the same
    whatever the compression."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = sha256(data)
        (blobs / digest.removeprefix("sha256:")).write_bytes(data)
        return digest

    layers = []
    for layer in image.layers:
        blob = compress(layer, how)
        layers.append({"mediaType": OCI_LAYER[how], "digest": put(blob), "size": len(blob)})
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": put(image.config_bytes),
            "size": len(image.config_bytes),
        },
        "layers": layers,
    }
    raw = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    digest = put(raw)
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (directory / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": manifest["mediaType"],
                        "digest": digest,
                        "size": len(raw),
                        "annotations": {"org.opencontainers.image.ref.name": tag},
                    }
                ],
            }
        )
    )
    return directory


def random_image(
    layers: int, layer_bytes: int, base: bytes | None = None, label: str = ""
) -> Image:
    """An image of `layers` layers of incompressible bytes (after an optional
    `base` layer, e.g. busybox's, so it can run)."""
    tars = [base] if base is not None else []
    for n in range(layers):
        builder = LayerBuilder().dir(f"data{n}")
        left, i = layer_bytes, 0
        while left > 0:
            size = min(left, 1 << 20)
            builder.file(f"data{n}/f{i}", os.urandom(size))
            left -= size
            i += 1
        tars.append(builder.build())
    return build_image(tars, extra_config={"Labels": {"hgt": label}} if label else None)
