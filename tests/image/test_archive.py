"""Load (docker-archive and OCI layout tarballs), Import (a rootfs tar
becomes an image), History, and a 120-layer image with whiteouts mounted
as one overlay."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.image.v1 import image_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from tests.support.busybox import (
    Image,
    LayerBuilder,
    build_image,
    gzip_bytes,
    write_docker_archive,
    write_oci_archive,
)

pytestmark = pytest.mark.root


def chunks(path: Path, first: Any, size: int = 64 * 1024) -> Iterator[Any]:
    yield first
    with open(path, "rb") as fh:
        while data := fh.read(size):
            yield type(first)(data=data)


def test_load_docker_archive(
    grpc_stub: Any, busybox_docker_archive: Path, busybox_image: Image
) -> None:
    out = list(grpc_stub.Load(chunks(busybox_docker_archive, pb.LoadRequest())))
    assert out[-1].stream == "Loaded image: busybox:latest\n"
    loading = [p for p in out if p.status == "Loading layer"]
    assert loading and loading[-1].current == loading[-1].total
    img = grpc_stub.Get(pb.GetImageRequest(reference="busybox"))
    assert img.id == busybox_image.id and list(img.repo_tags) == ["busybox:latest"]
    # Loading again reuses the layers; quiet gives only the result line.
    out = list(grpc_stub.Load(chunks(busybox_docker_archive, pb.LoadRequest(quiet=True))))
    assert [p.stream for p in out] == ["Loaded image: busybox:latest\n"]


def test_load_oci_archive(grpc_stub: Any, fixture_dir: Path) -> None:
    image = build_image(
        [LayerBuilder().dir("etc").file("etc/oci", b"yes").build()], cmd=["cat", "/etc/oci"]
    )
    path = write_oci_archive(image, fixture_dir / "oci.tar", tag="example.com/hgt/oci:1")
    out = list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))
    assert [p.stream for p in out] == ["Loaded image: example.com/hgt/oci:1\n"]
    assert grpc_stub.Get(pb.GetImageRequest(reference="example.com/hgt/oci:1")).id == image.id


def test_load_untagged_and_garbage(grpc_stub: Any, fixture_dir: Path) -> None:
    image = build_image([LayerBuilder().file("x", b"untagged").build()])
    path = write_docker_archive(image, fixture_dir / "untagged.tar", repo_tags=[])
    out = list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))
    assert [p.stream for p in out] == [f"Loaded image ID: {image.id}\n"]
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Load(iter([pb.LoadRequest(data=b"garbage" * 1000)])))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_import_rootfs(grpc_stub: Any) -> None:
    layer = gzip_bytes(LayerBuilder().dir("bin").file("bin/hello", b"#!/bin/sh\n", 0o755).build())
    reqs = [
        pb.ImportRequest(
            repository="hgt/imported",
            tag="v1",
            message="from test",
            changes=['CMD ["/bin/hello"]', "ENV A=1 B=2", "EXPOSE 80", "WORKDIR /bin", "LABEL k=v"],
        ),
        pb.ImportRequest(data=layer[:100]),
        pb.ImportRequest(data=layer[100:]),
    ]
    out = list(grpc_stub.Import(iter(reqs)))
    assert len(out) == 1 and out[0].status.startswith("sha256:")
    img = grpc_stub.Get(pb.GetImageRequest(reference="hgt/imported:v1"))
    assert img.id == out[0].status and img.comment == "from test"
    import json

    cfg = json.loads(img.config_json)["config"]
    assert cfg["Cmd"] == ["/bin/hello"] and cfg["Env"] == ["A=1", "B=2"]
    assert cfg["ExposedPorts"] == {"80/tcp": {}} and cfg["WorkingDir"] == "/bin"
    assert dict(img.labels) == {"k": "v"}
    hist = grpc_stub.History(pb.HistoryRequest(reference="hgt/imported:v1")).entries
    assert hist[0].id == img.id and list(hist[0].tags) == ["hgt/imported:v1"]


def test_history(grpc_stub: Any, busybox_docker_archive: Path, busybox_image: Image) -> None:
    list(grpc_stub.Load(chunks(busybox_docker_archive, pb.LoadRequest(quiet=True))))
    hist = grpc_stub.History(pb.HistoryRequest(reference="busybox")).entries
    assert len(hist) == 1 and hist[0].id == busybox_image.id
    assert hist[0].created_by == "hangu test layer 0" and hist[0].size > 1_000_000


def test_many_layers_with_whiteouts_mount(grpc_stub: Any, fixture_dir: Path) -> None:
    layers = [
        LayerBuilder()
        .dir("data")
        .file(f"data/f{i}", str(i).encode())
        .dir("gone")
        .file("gone/file", b"old")
        .build()
        for i in range(118)
    ]
    layers.append(LayerBuilder().dir("data").whiteout("data/f0").whiteout("gone/file").build())
    layers.append(
        LayerBuilder()
        .dir("gone")
        .opaque("gone")
        .file("gone/new", b"new")
        .file("data/f1", b"changed")
        .build()
    )
    image = build_image(layers)
    path = write_docker_archive(image, fixture_dir / "many.tar", repo_tags=["hgt/many:latest"])
    list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))
    cid = "d3" * 32
    prepared = grpc_stub.PrepareRootfs(
        pb.PrepareRootfsRequest(container_id=cid, image_id="hgt/many")
    )
    assert len(prepared.lower_dirs) == 120
    mounted = grpc_stub.MountRootfs(pb.MountRootfsRequest(container_id=cid))
    try:
        merged = Path(mounted.path)
        assert not (merged / "data/f0").exists()
        assert (merged / "data/f1").read_bytes() == b"changed"
        assert (merged / "data/f117").read_bytes() == b"117"
        assert sorted(os.listdir(merged / "gone")) == ["new"]
    finally:
        grpc_stub.RemoveRootfs(pb.RemoveRootfsRequest(container_id=cid))
    assert not Path(mounted.path).exists()


def test_docker_archive_with_symlinked_layer(grpc_stub: Any, fixture_dir: Path) -> None:
    """Older `docker save` links a repeated layer to its first copy."""
    layer = LayerBuilder().file("same", b"same").build()
    image = build_image([layer, layer])
    path = fixture_dir / "linked.tar"
    write_docker_archive(image, path, repo_tags=["hgt/linked:1"])
    # Rewrite: the manifest names a second path that is a symlink to the first.
    src = tarfile.open(path)
    out = io.BytesIO()
    import json

    with tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            f = src.extractfile(m) if m.isreg() else None
            data = f.read() if f else b""
            if m.name == "manifest.json":
                manifest = json.loads(data)
                manifest[0]["Layers"][1] = "dup/layer.tar"
                data = json.dumps(manifest).encode()
                m.size = len(data)
            dst.addfile(m, io.BytesIO(data) if m.isreg() else None)
        link = tarfile.TarInfo("dup/layer.tar")
        link.type, link.linkname = tarfile.SYMTYPE, "../" + manifest[0]["Layers"][0]
        dst.addfile(link)
    path.write_bytes(out.getvalue())
    res = list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))
    assert res[-1].stream == "Loaded image: hgt/linked:1\n"


def test_changes_commit_export(grpc_stub: Any, busybox_docker_archive: Path) -> None:
    import json

    list(grpc_stub.Load(chunks(busybox_docker_archive, pb.LoadRequest(quiet=True))))
    cid = "f5" * 32
    grpc_stub.PrepareRootfs(pb.PrepareRootfsRequest(container_id=cid, image_id="busybox"))
    merged = Path(grpc_stub.MountRootfs(pb.MountRootfsRequest(container_id=cid)).path)
    new_cid = "f6" * 32
    try:
        (merged / "tmp/new").write_text("new")
        (merged / "etc/group").unlink()
        with open(merged / "etc/passwd", "a") as fh:
            fh.write("app:x:1000:1000::/home:/bin/sh\n")
        (merged / "data").mkdir()
        (merged / "data/f").write_text("f")
        (merged / "var/spool/mail").rmdir()
        (merged / "var/spool").rmdir()
        (merged / "var/spool").mkdir()
        (merged / "var/spool/only").write_text("only")
        changes = {
            (c.path, c.kind) for c in grpc_stub.Changes(pb.ChangesRequest(container_id=cid)).changes
        }
        assert {
            ("/etc", 0),
            ("/etc/group", 2),
            ("/etc/passwd", 0),
            ("/tmp", 0),
            ("/tmp/new", 1),
            ("/data", 1),
            ("/data/f", 1),
        } <= changes

        out = grpc_stub.Commit(
            pb.CommitRequest(
                container_id=cid,
                repository="hgt/committed",
                tag="v1",
                comment="snap",
                author="tester",
                changes=['CMD ["cat", "/tmp/new"]'],
                config_json=json.dumps({"Env": ["PATH=/bin"], "Cmd": ["sh"]}).encode(),
            )
        )
        img = grpc_stub.Get(pb.GetImageRequest(reference="hgt/committed:v1"))
        assert img.id == out.id and len(img.layers) == 2 and img.author == "tester"
        cfg = json.loads(img.config_json)
        assert cfg["config"]["Cmd"] == ["cat", "/tmp/new"] and cfg["comment"] == "snap"

        grpc_stub.PrepareRootfs(pb.PrepareRootfsRequest(container_id=new_cid, image_id=out.id))
        second = Path(grpc_stub.MountRootfs(pb.MountRootfsRequest(container_id=new_cid)).path)
        assert (second / "tmp/new").read_text() == "new"
        assert not (second / "etc/group").exists()
        assert "app:x:1000" in (second / "etc/passwd").read_text()
        assert sorted(os.listdir(second / "var/spool")) == ["only"]
        assert (second / "bin/busybox").is_file()
    finally:
        grpc_stub.RemoveRootfs(pb.RemoveRootfsRequest(container_id=new_cid))
        grpc_stub.UnmountRootfs(pb.UnmountRootfsRequest(container_id=cid))

    # Export of a stopped (unmounted) container mounts it for the while.
    data = b"".join(c.data for c in grpc_stub.Export(pb.ExportRequest(container_id=cid)))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = set(tar.getnames())
    assert {"bin/busybox", "tmp/new", "data/f"} <= names and "etc/group" not in names
    assert not os.path.ismount(merged)
    grpc_stub.RemoveRootfs(pb.RemoveRootfsRequest(container_id=cid))


def test_list_filters_and_prune(grpc_stub: Any, fixture_dir: Path) -> None:
    dangling = build_image([LayerBuilder().file("d", b"dangling").build()])
    used = build_image([LayerBuilder().file("u", b"in use").build()])
    for n, image in enumerate((dangling, used)):
        path = write_docker_archive(image, fixture_dir / f"prune{n}.tar", repo_tags=[])
        list(grpc_stub.Load(chunks(path, pb.LoadRequest(quiet=True))))

    def ids(**filters: list[str]) -> set[str]:
        req = pb.ListImagesRequest(
            filters={k: tpb.StringList(values=v) for k, v in filters.items()}
        )
        return {i.id for i in grpc_stub.List(req).images}

    assert {dangling.id, used.id} <= ids(dangling=["true"])
    assert dangling.id not in ids(dangling=["false"])
    assert ids(since=[dangling.id]) >= {used.id} and dangling.id not in ids(since=[dangling.id])
    assert dangling.id in ids(before=[used.id])
    with pytest.raises(grpc.RpcError) as err:
        ids(nosuch=["x"])
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    out = grpc_stub.Prune(pb.PruneImagesRequest(in_use_image_ids=[used.id]))
    assert dangling.id in out.deleted and used.id not in out.deleted
    assert out.space_reclaimed > 0
    assert grpc_stub.Get(pb.GetImageRequest(reference=used.id)).id == used.id


def test_restart_reconciles_crash_leftovers(busybox_docker_archive: Path) -> None:
    """A service starting on a root with a crash's leftovers removes them and
    re-creates a layer whose directory was lost, keeping its images."""
    import shutil

    from hangu_image import archive
    from hangu_image.service import ImageService
    from hangu_runtime.config import Settings
    from tests.image.conftest import new_root

    root = new_root()
    try:
        svc = ImageService(Settings(root=root, run=root / "run"))
        list(archive.load(svc.images, [busybox_docker_archive.read_bytes()], True))
        image = svc.images.cached_view("busybox")
        chain = image.record.chain_ids[0]
        svc.close()
        img_root = root / "image"
        (img_root / "layers" / ("f" * 64)).mkdir()
        (img_root / "l" / "DANGLINGLINK").symlink_to("../layers/nothing/diff")
        (img_root / "rootfs" / "orphan").mkdir()
        (img_root / "tmp" / "unpack-x").mkdir()
        (img_root / "content/ingest/blob-x").write_bytes(b"half")
        shutil.rmtree(img_root / "layers" / chain.removeprefix("sha256:"))

        svc = ImageService(Settings(root=root, run=root / "run"))
        assert sorted(p.name for p in (img_root / "layers").iterdir()) == []
        assert list((img_root / "l").iterdir()) == []
        assert list((img_root / "rootfs").iterdir()) == []
        assert list((img_root / "tmp").iterdir()) == []
        assert list((img_root / "content/ingest").iterdir()) == []
        # Loading again restores the lost layer; the image keeps its refcount.
        list(archive.load(svc.images, [busybox_docker_archive.read_bytes()], True))
        rec = svc.layers.get(chain)
        assert rec is not None and rec.refcount == 1 and svc.layers.exists(chain)
        svc.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
