"""The image service's gRPC API against a real registry (Debian's
docker-registry holding busybox): pull progress, Get resolution, tag,
remove conflicts, events, and container root filesystems on overlayfs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from hangu.image.v1 import image_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from tests.support.busybox import Image

pytestmark = pytest.mark.root

START = Timestamp()
START.GetCurrentTime()


@pytest.fixture(scope="module")
def pulled(grpc_stub: Any, registry: Any) -> list[pb.Progress]:
    return list(grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/busybox")))


def test_pull_progress_sequence(
    pulled: list[pb.Progress], registry: Any, busybox_image: Image
) -> None:
    layer = busybox_image.manifest()[1]["layers"][0]["digest"].removeprefix("sha256:")[:12]
    assert (pulled[0].id, pulled[0].status) == ("latest", "Pulling from busybox")
    layer_statuses = [p.status for p in pulled if p.id == layer]
    # Collapse repeated progress updates to see the sequence.
    seq = [s for i, s in enumerate(layer_statuses) if i == 0 or s != layer_statuses[i - 1]]
    assert seq == [
        "Pulling fs layer",
        "Downloading",
        "Verifying Checksum",
        "Download complete",
        "Extracting",
        "Pull complete",
    ]
    downloading = [p for p in pulled if p.status == "Downloading"]
    assert downloading[-1].current == downloading[-1].total == len(busybox_image.compressed[0])
    assert all(
        p.total == len(busybox_image.compressed[0]) for p in pulled if p.status == "Extracting"
    )
    assert pulled[-2].status == f"Digest: {busybox_image.manifest_digest}"
    assert pulled[-1].status == f"Status: Downloaded newer image for {registry.host}/busybox:latest"
    assert not any(p.error for p in pulled)
    # Per-layer lines are progress updates; the tag, Digest and Status lines are not
    # (the gateway gives only updates a progressDetail, as dockerd does).
    assert all(p.detail for p in pulled if p.id == layer)
    assert not any(p.detail for p in (pulled[0], pulled[-2], pulled[-1]))


def test_pull_again_is_up_to_date(
    pulled: list[pb.Progress], grpc_stub: Any, registry: Any, busybox_image: Image
) -> None:
    again = [
        (p.id, p.status)
        for p in grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/busybox:latest"))
    ]
    assert again == [
        ("latest", "Pulling from busybox"),
        ("", f"Digest: {busybox_image.manifest_digest}"),
        ("", f"Status: Image is up to date for {registry.host}/busybox:latest"),
    ]


def test_pull_by_digest(
    pulled: list[pb.Progress], grpc_stub: Any, registry: Any, busybox_image: Image
) -> None:
    ref = f"{registry.host}/busybox@{busybox_image.manifest_digest}"
    out = [(p.id, p.status) for p in grpc_stub.Pull(pb.PullRequest(reference=ref))]
    assert out[0] == (busybox_image.manifest_digest, "Pulling from busybox")
    assert out[-1][1] == f"Status: Image is up to date for {ref}"


def test_pulled_image_metadata(
    pulled: list[pb.Progress], grpc_stub: Any, registry: Any, busybox_image: Image
) -> None:
    img = grpc_stub.Get(pb.GetImageRequest(reference=f"{registry.host}/busybox"))
    assert img.id == busybox_image.id
    assert list(img.repo_tags) == [f"{registry.host}/busybox:latest"]
    assert list(img.repo_digests) == [f"{registry.host}/busybox@{busybox_image.manifest_digest}"]
    assert img.config_json == busybox_image.config_bytes
    assert list(img.layers) == busybox_image.diff_ids
    assert img.os == "linux" and img.architecture == busybox_image.config["architecture"]
    assert img.size > 1_000_000
    assert img.created.seconds == 1704067200
    assert img.manifest_digest == busybox_image.manifest_digest


@pytest.mark.parametrize(
    "how",
    [
        "name",
        "name:tag",
        "full-id",
        "hex-id",
        "short-id",
        "one-hex",
        "repo-digest",
        "sha256-prefix",
    ],
)
def test_get_resolves_like_dockerd(
    pulled: list[pb.Progress], grpc_stub: Any, registry: Any, busybox_image: Image, how: str
) -> None:
    hexid = busybox_image.id.removeprefix("sha256:")
    ref = {
        "name": f"{registry.host}/busybox",
        "name:tag": f"{registry.host}/busybox:latest",
        "full-id": busybox_image.id,
        "hex-id": hexid,
        "short-id": hexid[:12],
        "one-hex": hexid[:1],
        "repo-digest": f"{registry.host}/busybox@{busybox_image.manifest_digest}",
        "sha256-prefix": "sha256:" + hexid[:6],
    }[how]
    assert grpc_stub.Get(pb.GetImageRequest(reference=ref)).id == busybox_image.id


@pytest.mark.parametrize(
    "ref,message",
    [
        ("nosuch", "No such image: nosuch:latest"),
        ("nosuch:v1", "No such image: nosuch:v1"),
        ("0" * 64, "No such image: " + "0" * 64),
    ],
)
def test_get_not_found(grpc_stub: Any, ref: str, message: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Get(pb.GetImageRequest(reference=ref))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == message


def test_get_invalid_reference(grpc_stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Get(pb.GetImageRequest(reference="Bad:Ref:x"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("invalid reference format")


def test_pull_missing_tag_is_not_found(grpc_stub: Any, registry: Any) -> None:
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/busybox:nosuch")))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == (
        f"manifest for {registry.host}/busybox:nosuch not found: manifest unknown: manifest unknown"
    )


def test_pull_unreachable_registry(grpc_stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Pull(pb.PullRequest(reference="127.0.0.1:9/busybox")))
    assert "connection refused" in err.value.details()


def test_tag_list_and_remove(
    pulled: list[pb.Progress], grpc_stub: Any, registry: Any, busybox_image: Image
) -> None:
    grpc_stub.Tag(pb.TagRequest(source=f"{registry.host}/busybox", target="hgt/box:v1"))
    grpc_stub.Tag(pb.TagRequest(source=busybox_image.id[:19], target="hgt/box"))
    img = grpc_stub.Get(pb.GetImageRequest(reference="hgt/box:v1"))
    assert set(img.repo_tags) == {f"{registry.host}/busybox:latest", "hgt/box:v1", "hgt/box:latest"}
    listed = grpc_stub.List(
        pb.ListImagesRequest(filters={"reference": tpb.StringList(values=["hgt/*"])})
    ).images
    assert len(listed) == 1 and set(listed[0].repo_tags) == {"hgt/box:v1", "hgt/box:latest"}
    out = grpc_stub.Remove(pb.RemoveImageRequest(reference="hgt/box:v1"))
    assert list(out.untagged) == ["hgt/box:v1"] and not out.deleted
    out = grpc_stub.Remove(pb.RemoveImageRequest(reference="hgt/box"))
    assert list(out.untagged) == ["hgt/box:latest"] and not out.deleted
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Tag(pb.TagRequest(source="busybox-nope", target="x"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_remove_conflicts(
    pulled: list[pb.Progress], grpc_stub: Any, registry: Any, busybox_image: Image
) -> None:
    cid = "c" * 64
    name = f"{registry.host}/busybox"
    short = busybox_image.id.removeprefix("sha256:")[:12]
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Remove(pb.RemoveImageRequest(reference=name, used_by_containers=[cid]))
    assert err.value.code() == grpc.StatusCode.ABORTED
    assert err.value.details() == (
        f'conflict: unable to remove repository reference "{name}" (must force) - '
        f"container cccccccccccc is using its referenced image {short}"
    )
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Remove(pb.RemoveImageRequest(reference=short, used_by_containers=[cid]))
    assert err.value.details() == (
        f"conflict: unable to delete {short} (must be forced) - "
        "image is being used by stopped container cccccccccccc"
    )
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Remove(
            pb.RemoveImageRequest(
                reference=short, force=True, used_by_containers=[cid], running_containers=[cid]
            )
        )
    assert err.value.details() == (
        f"conflict: unable to delete {short} (cannot be forced) - "
        "image is being used by running container cccccccccccc"
    )
    # Two repositories: deleting by id needs force.
    grpc_stub.Tag(pb.TagRequest(source=name, target="hgt/other"))
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Remove(pb.RemoveImageRequest(reference=short))
    assert err.value.details() == (
        f"conflict: unable to delete {short} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    grpc_stub.Remove(pb.RemoveImageRequest(reference="hgt/other"))
    assert grpc_stub.Get(pb.GetImageRequest(reference=name)).id == busybox_image.id


def test_rootfs_prepare_mount_unmount_remove(
    pulled: list[pb.Progress], grpc_stub: Any, registry: Any, busybox_image: Image
) -> None:
    cid = "a1" * 32
    rootfs = grpc_stub.PrepareRootfs(
        pb.PrepareRootfsRequest(container_id=cid, image_id=busybox_image.id)
    )
    assert rootfs.path == "" and rootfs.image_id == busybox_image.id
    assert len(rootfs.lower_dirs) == 1 and Path(rootfs.upper_dir).is_dir()
    mounted = grpc_stub.MountRootfs(pb.MountRootfsRequest(container_id=cid))
    try:
        merged = Path(mounted.path)
        assert merged.name == "merged" and merged.parent.name == cid
        assert os.path.ismount(merged)
        assert (merged / "bin/busybox").is_file() and os.access(merged / "bin/sh", os.X_OK)
        assert "root:x:0:0" in (merged / "etc/passwd").read_text()
        # Idempotent.
        assert grpc_stub.MountRootfs(pb.MountRootfsRequest(container_id=cid)).path == mounted.path
        (merged / "tmp/hello").write_text("hi")
        assert (Path(rootfs.upper_dir) / "tmp/hello").read_text() == "hi"
        (merged / "etc/group").unlink()
        assert (Path(rootfs.lower_dirs[0]) / "etc/group").exists()
    finally:
        grpc_stub.UnmountRootfs(pb.UnmountRootfsRequest(container_id=cid))
    assert not os.path.ismount(merged)
    grpc_stub.UnmountRootfs(pb.UnmountRootfsRequest(container_id=cid))  # idempotent
    # Remove refused while a container uses it; the service keeps layers it needs.
    grpc_stub.RemoveRootfs(pb.RemoveRootfsRequest(container_id=cid))
    assert not merged.parent.exists()
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.MountRootfs(pb.MountRootfsRequest(container_id=cid))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_rootfs_survives_forced_image_removal(
    grpc_stub: Any, registry: Any, busybox_image: Image
) -> None:
    list(grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/busybox")))
    cid = "b2" * 32
    grpc_stub.PrepareRootfs(
        pb.PrepareRootfsRequest(container_id=cid, image_id=f"{registry.host}/busybox")
    )
    out = grpc_stub.Remove(
        pb.RemoveImageRequest(reference=busybox_image.id, force=True, used_by_containers=[cid])
    )
    assert list(out.deleted) == [busybox_image.id]
    mounted = grpc_stub.MountRootfs(pb.MountRootfsRequest(container_id=cid))
    try:
        assert (Path(mounted.path) / "bin/busybox").is_file()
    finally:
        grpc_stub.RemoveRootfs(pb.RemoveRootfsRequest(container_id=cid))
    assert not Path(mounted.path).exists()


def test_remove_deletes_image_and_layers(
    grpc_stub: Any, registry: Any, image_service: Any, busybox_image: Image
) -> None:
    list(grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/busybox")))
    out = grpc_stub.Remove(pb.RemoveImageRequest(reference=f"{registry.host}/busybox"))
    assert list(out.untagged) == [
        f"{registry.host}/busybox:latest",
        f"{registry.host}/busybox@{busybox_image.manifest_digest}",
    ]
    # The image, then its layers by chain id (as dockerd lists them).
    assert list(out.deleted) == [busybox_image.id, busybox_image.diff_ids[0]]
    assert grpc_stub.List(pb.ListImagesRequest()).images == []
    assert list((image_service.root / "layers").iterdir()) == []
    assert list((image_service.root / "l").iterdir()) == []


def test_events(grpc_stub: Any) -> None:
    until = Timestamp()
    until.FromNanoseconds(time.time_ns() + 200_000_000)
    actions = [e.action for e in grpc_stub.Events(tpb.EventsRequest(since=START, until=until))]
    for action in ("pull", "tag", "untag", "delete"):
        assert action in actions


def test_multi_layer_pull_waits_and_reuses(
    grpc_stub: Any, registry: Any, fixture_dir: Path, busybox_image: Image
) -> None:
    """Five layers: at most three download at once (the rest report
    Waiting); a layer already present reports Already exists."""
    from tests.support.busybox import LayerBuilder, build_image, write_oci_layout

    layers = [busybox_image.layers[0]] + [
        LayerBuilder().dir("l").file(f"l/{i}", os.urandom(20000)).build() for i in range(5)
    ]
    image = build_image(layers)
    registry.push(write_oci_layout(image, fixture_dir / "hgt-multi"), "hgt-multi", "v1")
    list(grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/busybox")))
    out = list(grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/hgt-multi:v1")))
    shorts = [d["digest"].removeprefix("sha256:")[:12] for d in image.manifest()[1]["layers"]]
    first = {s: next(p.status for p in out if p.id == s) for s in shorts}
    assert first[shorts[0]] == "Already exists"
    assert all(first[s] == "Pulling fs layer" for s in shorts[1:])
    waiting = [p.id for p in out if p.status == "Waiting"]
    assert waiting == shorts[4:]
    completes = [p.id for p in out if p.status == "Pull complete"]
    assert completes == shorts[1:]  # extracted in order, base first
    assert out[-1].status == f"Status: Downloaded newer image for {registry.host}/hgt-multi:v1"
    img = grpc_stub.Get(pb.GetImageRequest(reference=f"{registry.host}/hgt-multi:v1"))
    assert img.id == image.id and len(img.layers) == 6
    grpc_stub.Remove(pb.RemoveImageRequest(reference=img.id, force=True))
    assert (
        grpc_stub.Get(pb.GetImageRequest(reference=f"{registry.host}/busybox")).id
        == busybox_image.id
    )


def test_pull_all_tags(
    grpc_stub: Any, registry: Any, busybox_oci_layout: Path, busybox_image: Image
) -> None:
    registry.push(busybox_oci_layout, "hgt-tags", "a")
    registry.push(busybox_oci_layout, "hgt-tags", "b")
    out = list(grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/hgt-tags", all_tags=True)))
    pulling = [(p.id, p.status) for p in out if p.status.startswith("Pulling from")]
    assert pulling == [("a", "Pulling from hgt-tags"), ("b", "Pulling from hgt-tags")]
    assert out[-1].status == f"Status: Downloaded newer image for {registry.host}/hgt-tags"
    img = grpc_stub.Get(pb.GetImageRequest(reference=f"{registry.host}/hgt-tags:b"))
    assert {f"{registry.host}/hgt-tags:a", f"{registry.host}/hgt-tags:b"} <= set(img.repo_tags)


def test_save_then_load_round_trip(
    grpc_stub: Any, registry: Any, busybox_image: Image, image_service: Any
) -> None:
    import io
    import json
    import tarfile

    list(grpc_stub.Pull(pb.PullRequest(reference=f"{registry.host}/busybox")))
    data = b"".join(
        c.data for c in grpc_stub.Save(pb.SaveRequest(references=[f"{registry.host}/busybox"]))
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        names = tar.getnames()
    assert manifest[0]["RepoTags"] == [f"{registry.host}/busybox:latest"]
    assert "index.json" in names and "oci-layout" in names
    grpc_stub.Tag(pb.TagRequest(source=busybox_image.id, target="hgt/saved"))
    grpc_stub.Remove(pb.RemoveImageRequest(reference=busybox_image.id, force=True))
    out = list(grpc_stub.Load(iter([pb.LoadRequest(quiet=True), pb.LoadRequest(data=data)])))
    assert [p.stream for p in out] == [f"Loaded image: {registry.host}/busybox:latest\n"]
    assert (
        grpc_stub.Get(pb.GetImageRequest(reference=f"{registry.host}/busybox")).id
        == busybox_image.id
    )
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Save(pb.SaveRequest(references=["hgt/nosuch"])))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_push_then_pull_back(
    grpc_stub: Any, registry: Any, busybox_docker_archive: Path, busybox_image: Image
) -> None:
    """A loaded image (uncompressed layer) pushed under a new name: Docker's
    push sequence, and the registry then serves it to a pull."""
    data = busybox_docker_archive.read_bytes()
    list(grpc_stub.Load(iter([pb.LoadRequest(quiet=True), pb.LoadRequest(data=data)])))
    target = f"{registry.host}/hgt-pushed:v1"
    grpc_stub.Tag(pb.TagRequest(source="busybox", target=target))
    out = list(grpc_stub.Push(pb.PushRequest(reference=target)))
    assert not any(p.error for p in out), [p.error for p in out]
    short = busybox_image.diff_ids[0].removeprefix("sha256:")[:12]
    assert out[0].status == f"The push refers to repository [{registry.host}/hgt-pushed]"
    statuses = [p.status for p in out if p.id == short]
    # Uploaded, or mounted from a repository an earlier test pushed it to.
    assert statuses[0] == "Preparing"
    assert statuses[-1] == "Pushed" or statuses[-1].startswith("Mounted from "), statuses
    assert out[-2].status.startswith("v1: digest: sha256:")
    aux = out[-1].push_result
    assert aux.tag == "v1" and aux.digest.startswith("sha256:")
    again = list(grpc_stub.Push(pb.PushRequest(reference=target)))
    assert any(p.status == "Layer already exists" for p in again)
    grpc_stub.Remove(pb.RemoveImageRequest(reference=busybox_image.id, force=True))
    pulled = list(grpc_stub.Pull(pb.PullRequest(reference=target)))
    assert pulled[-1].status == f"Status: Downloaded newer image for {target}"
    assert grpc_stub.Get(pb.GetImageRequest(reference=target)).id == busybox_image.id
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Push(pb.PushRequest(reference=f"{registry.host}/hgt-none:v1")))
    assert err.value.details() == (
        f"An image does not exist locally with the tag: {registry.host}/hgt-none"
    )


def test_manifest_list_resolves_platform(
    grpc_stub: Any, registry: Any, fixture_dir: Path, busybox_image: Image
) -> None:
    """An OCI index with an amd64 and an arm64 image (and an attestation-like
    unknown entry): the host's platform by default, another when asked."""
    import json

    from tests.support.busybox import build_image, host_arch, write_oci_index_layout

    other_arch = "arm64" if host_arch() == "amd64" else "amd64"
    host_img = build_image(busybox_image.layers, arch=host_arch())
    other = build_image(
        busybox_image.layers, arch=other_arch, extra_config={"Labels": {"arch": other_arch}}
    )
    layout = write_oci_index_layout(
        {f"linux/{host_arch()}": host_img, f"linux/{other_arch}": other}, fixture_dir / "multi-arch"
    )
    registry.push(layout, "hgt-multiarch", "latest", extra=("--all",))
    ref = f"{registry.host}/hgt-multiarch"
    out = list(grpc_stub.Pull(pb.PullRequest(reference=ref)))
    index_digest = out[-2].status.removeprefix("Digest: ")
    assert index_digest != host_img.manifest_digest
    img = grpc_stub.Get(pb.GetImageRequest(reference=ref))
    assert img.id == host_img.id and img.architecture == host_arch()
    assert f"{ref}@{index_digest}" in img.repo_digests
    out = list(
        grpc_stub.Pull(
            pb.PullRequest(reference=ref, platform=pb.Platform(os="linux", architecture=other_arch))
        )
    )
    img = grpc_stub.Get(pb.GetImageRequest(reference=ref))
    assert img.id == other.id and json.loads(img.config_json)["architecture"] == other_arch
    with pytest.raises(grpc.RpcError) as err:
        list(
            grpc_stub.Pull(
                pb.PullRequest(
                    reference=ref, platform=pb.Platform(os="linux", architecture="s390x")
                )
            )
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert (
        err.value.details() == "no matching manifest for linux/s390x in the manifest list entries"
    )


def test_docker_schema2_manifest(
    grpc_stub: Any, registry: Any, busybox_oci_layout: Path, busybox_image: Image
) -> None:
    registry.push(busybox_oci_layout, "hgt-v2s2", "latest", extra=("--format", "v2s2"))
    ref = f"{registry.host}/hgt-v2s2"
    out = list(grpc_stub.Pull(pb.PullRequest(reference=ref)))
    assert not any(p.error for p in out)
    assert grpc_stub.Get(pb.GetImageRequest(reference=ref)).id == busybox_image.id


def test_concurrent_pulls_of_one_image(
    grpc_stub: Any, registry: Any, fixture_dir: Path, image_service: Any
) -> None:
    """Parallel `docker run`s pull the same new image at once: all succeed,
    the image and its layers exist once."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.support.busybox import LayerBuilder, build_image, write_oci_layout

    image = build_image(
        [LayerBuilder().dir("c").file(f"c/{i}", os.urandom(3000)).build() for i in range(3)]
    )
    registry.push(write_oci_layout(image, fixture_dir / "hgt-conc"), "hgt-conc", "latest")
    ref = f"{registry.host}/hgt-conc"
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: list(grpc_stub.Pull(pb.PullRequest(reference=ref))), range(4))
        )
    for out in results:
        assert not any(p.error for p in out)
        assert out[-1].status.startswith("Status: ")
    assert grpc_stub.Get(pb.GetImageRequest(reference=ref)).id == image.id
    chain = image_service.images.get_record(image.id).chain_ids
    assert [image_service.layers.get(c).refcount for c in chain] == [1, 1, 1]
    grpc_stub.Remove(pb.RemoveImageRequest(reference=ref))
    assert all(image_service.layers.get(c) is None for c in chain)
