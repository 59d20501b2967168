"""The volume service's gRPC API contract through pytest-grpc: the real
VolumeServicer (conftest: pg_volume, grpc_*) on a temporary root. Create
(named, anonymous), Get's not-found, Mount/Unmount references with a
copy-up, Remove refused while in use, Prune."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.types.v1 import types_pb2 as tpb
from hangu.volume.v1 import volume_pb2 as pb

grpc_max_workers = 4


def _err(fn: Any, req: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        fn(req)
    return err.value.code(), err.value.details()


def _names(stub: Any) -> set[str]:
    return {v.name for v in stub.List(pb.ListVolumesRequest()).volumes}


@pytest.fixture(autouse=True)
def _empty_after(grpc_stub: Any) -> Iterator[None]:
    """Each test starts from no volumes: the service is shared by the module."""
    yield
    for v in grpc_stub.List(pb.ListVolumesRequest()).volumes:
        for cid in v.used_by:
            grpc_stub.Unmount(pb.UnmountVolumeRequest(name=v.name, container_id=cid))
        grpc_stub.Remove(pb.RemoveVolumeRequest(name=v.name))


def test_create_named_and_anonymous(grpc_stub: Any) -> None:
    v = grpc_stub.Create(pb.CreateVolumeRequest(name="pgv1", labels={"k": "v"}))
    assert (v.name, v.driver, v.scope, v.anonymous) == ("pgv1", "local", "local", False)
    assert v.mountpoint.endswith("/volume/volumes/pgv1/_data") and Path(v.mountpoint).is_dir()
    assert v.labels == {"k": "v"} and not v.used_by
    # Create of an existing name returns it unchanged (dockerd: idempotent).
    assert grpc_stub.Create(pb.CreateVolumeRequest(name="pgv1")).created == v.created
    anon = grpc_stub.Create(pb.CreateVolumeRequest())
    assert len(anon.name) == 64 and all(c in "0123456789abcdef" for c in anon.name)
    assert anon.anonymous and Path(anon.mountpoint).is_dir()
    assert _names(grpc_stub) == {"pgv1", anon.name}
    assert grpc_stub.Get(pb.GetVolumeRequest(name="pgv1")).mountpoint == v.mountpoint
    assert _err(grpc_stub.Get, pb.GetVolumeRequest(name="pgnosuch")) == (
        grpc.StatusCode.NOT_FOUND,
        "get pgnosuch: no such volume",
    )
    assert (
        _err(grpc_stub.Create, pb.CreateVolumeRequest(name="a/b"))[0]
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_mount_unmount_and_remove_in_use(grpc_stub: Any, tmp_path: Path) -> None:
    v = grpc_stub.Create(pb.CreateVolumeRequest(name="pgused"))
    image_dir = tmp_path / "data"
    image_dir.mkdir()
    (image_dir / "seed").write_text("from the image")
    path = grpc_stub.Mount(
        pb.MountVolumeRequest(name="pgused", container_id="c1", copy_from=str(image_dir))
    ).path
    assert path == v.mountpoint and Path(path, "seed").read_text() == "from the image"
    grpc_stub.Mount(pb.MountVolumeRequest(name="pgused", container_id="c2"))
    assert list(grpc_stub.Get(pb.GetVolumeRequest(name="pgused")).used_by) == ["c1", "c2"]
    assert _err(grpc_stub.Remove, pb.RemoveVolumeRequest(name="pgused")) == (
        grpc.StatusCode.ABORTED,
        "remove pgused: volume is in use - [c1 c2]",
    )
    assert (
        _err(grpc_stub.Mount, pb.MountVolumeRequest(name="pgnosuch", container_id="c1"))[0]
        == grpc.StatusCode.NOT_FOUND
    )
    grpc_stub.Unmount(pb.UnmountVolumeRequest(name="pgused", container_id="c1"))
    assert list(grpc_stub.Get(pb.GetVolumeRequest(name="pgused")).used_by) == ["c2"]
    grpc_stub.Unmount(pb.UnmountVolumeRequest(name="pgused", container_id="c2"))
    grpc_stub.Remove(pb.RemoveVolumeRequest(name="pgused"))
    assert not Path(path).exists()
    assert _err(grpc_stub.Get, pb.GetVolumeRequest(name="pgused"))[0] == grpc.StatusCode.NOT_FOUND


def test_prune(grpc_stub: Any) -> None:
    grpc_stub.Create(pb.CreateVolumeRequest(name="pgnamed"))
    unused = grpc_stub.Create(pb.CreateVolumeRequest())
    busy = grpc_stub.Create(pb.CreateVolumeRequest())
    grpc_stub.Mount(pb.MountVolumeRequest(name=busy.name, container_id="c9"))
    Path(unused.mountpoint, "f").write_bytes(b"x" * 100)
    # By default only unused anonymous volumes go (Docker API >= 1.42).
    resp = grpc_stub.Prune(pb.PruneVolumesRequest())
    assert list(resp.deleted) == [unused.name] and resp.space_reclaimed == 100
    resp = grpc_stub.Prune(pb.PruneVolumesRequest(filters={"all": tpb.StringList(values=["true"])}))
    assert list(resp.deleted) == ["pgnamed"]
    assert _names(grpc_stub) == {busy.name}
