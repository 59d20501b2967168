"""Load in one pass: layers unpacked while the archive is staged, files that
only look like layers staged as files, a layer that is not the one the
config names refused with nothing left behind; save of several images is
one archive whose docker and OCI halves name the same blobs."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.image.v1 import image_pb2 as pb
from tests.support.busybox import LayerBuilder, build_image, gzip_bytes, write_docker_archive

from .test_archive import chunks

pytestmark = pytest.mark.root


def _rewrite(path: Path, extra: dict[str, bytes], replace: dict[str, bytes] | None = None) -> None:
    """Add members to (or replace members of) a tar archive."""
    replace = replace or {}
    src = tarfile.open(path)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isreg() else b""  # type: ignore[union-attr]
            if member.name in replace:
                data = replace[member.name]
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data) if member.isreg() else None)
        for name, data in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))
    src.close()
    path.write_bytes(out.getvalue())


def _leftovers(image_service: Any) -> list[Path]:
    root = image_service.root
    return list((root / "tmp").iterdir()) + list((root / "content" / "ingest").iterdir())


def test_load_one_pass_with_gzip_layers_and_decoys(
    grpc_stub: Any, image_service: Any, fixture_dir: Path
) -> None:
    layers = [LayerBuilder().file(f"f{i}", bytes([i]) * 3000).build() for i in range(3)]
    image = build_image(layers)
    path = write_docker_archive(image, fixture_dir / "onepass.tar", ["hgt/onepass:1"])
    # Gzip layers (as a Docker 25+ save of pulled images has) and two decoys:
    # a gzip file that is no tar, and a tar that no manifest names.
    names = [f"{d.removeprefix('sha256:')}/layer.tar" for d in image.diff_ids]
    _rewrite(
        path,
        {
            "decoy.gz": gzip.compress(b"not a tar" * 100),
            "unused/layer.tar": LayerBuilder().file("x", b"x" * 600).build(),
        },
        {names[1]: gzip_bytes(layers[1])},
    )
    out = list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))
    assert [p.stream for p in out] == ["Loaded image: hgt/onepass:1\n"]
    img = grpc_stub.Get(pb.GetImageRequest(reference="hgt/onepass:1"))
    assert img.id == image.id and list(img.layers) == image.diff_ids
    assert _leftovers(image_service) == []
    # What was loaded saves back with the same id.
    data = b"".join(c.data for c in grpc_stub.Save(pb.SaveRequest(references=["hgt/onepass:1"])))
    grpc_stub.Remove(pb.RemoveImageRequest(reference="hgt/onepass:1"))
    again = list(grpc_stub.Load(iter([pb.LoadRequest(quiet=True), pb.LoadRequest(data=data)])))
    assert [p.stream for p in again] == ["Loaded image: hgt/onepass:1\n"]
    assert grpc_stub.Get(pb.GetImageRequest(reference="hgt/onepass:1")).id == image.id
    grpc_stub.Remove(pb.RemoveImageRequest(reference="hgt/onepass:1"))


def test_load_refuses_a_layer_the_config_does_not_name(
    grpc_stub: Any, image_service: Any, fixture_dir: Path
) -> None:
    image = build_image([LayerBuilder().file("real", b"r" * 2000).build()])
    path = write_docker_archive(image, fixture_dir / "swapped.tar", ["hgt/swapped:1"])
    name = f"{image.diff_ids[0].removeprefix('sha256:')}/layer.tar"
    _rewrite(path, {}, {name: LayerBuilder().file("evil", b"e" * 2000).build()})
    layers_before = sorted(p.name for p in (image_service.root / "layers").iterdir())
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "diff id mismatch" in (err.value.details() or "")
    assert sorted(p.name for p in (image_service.root / "layers").iterdir()) == layers_before
    assert _leftovers(image_service) == []


def test_load_refuses_an_escaping_layer(
    grpc_stub: Any, image_service: Any, fixture_dir: Path
) -> None:
    evil = tarfile.TarInfo("../outside")
    image = build_image([LayerBuilder().raw(evil, b"x" * 700).build()])
    path = write_docker_archive(image, fixture_dir / "escape.tar", ["hgt/escape:1"])
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "breakout" in (err.value.details() or "")
    assert not (image_service.root / "outside").exists()
    assert _leftovers(image_service) == []


def test_save_several_images_one_archive(grpc_stub: Any, fixture_dir: Path) -> None:
    shared = LayerBuilder().file("shared", b"s" * 1000).build()
    a = build_image([shared], extra_config={"Labels": {"n": "a"}})
    b = build_image([shared, LayerBuilder().file("b", b"b").build()])
    for name, image in (("a", a), ("b", b)):
        path = write_docker_archive(image, fixture_dir / f"sev-{name}.tar", [f"hgt/sev:{name}"])
        list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))
    data = b"".join(
        c.data
        for c in grpc_stub.Save(pb.SaveRequest(references=["hgt/sev:a", "hgt/sev:b", "hgt/sev:a"]))
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        repositories = json.load(tar.extractfile("repositories"))  # type: ignore[arg-type]
    assert [m["RepoTags"] for m in manifest] == [["hgt/sev:a"], ["hgt/sev:b"]]
    # The shared layer is written once; every name points into blobs/sha256.
    assert len([n for n in names if n.endswith(a.diff_ids[0].removeprefix("sha256:"))]) == 1
    assert all(p in names for m in manifest for p in [m["Config"], *m["Layers"]])
    assert len(index["manifests"]) == 2 and set(repositories) == {"hgt/sev"}
    for tag in ("a", "b"):
        grpc_stub.Remove(pb.RemoveImageRequest(reference=f"hgt/sev:{tag}"))
