"""The volume service API: create/inspect/list/remove/prune, references,
copy-up from an image folder, driver-option mounts, Docker's errors."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import grpc
import pytest

from hangu.types.v1 import types_pb2 as tpb
from hangu.volume.v1 import volume_pb2 as pb

from .conftest import VolEnv


def _err(fn, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        fn(*args)
    return err.value.code(), err.value.details()


def _names(resp: pb.ListVolumesResponse) -> set[str]:
    return {v.name for v in resp.volumes}


def test_create_get_and_idempotent(vol_env: VolEnv) -> None:
    v = vol_env.stub.Create(pb.CreateVolumeRequest(name="v1", labels={"k": "x"}))
    assert v.name == "v1" and v.driver == "local" and v.scope == "local"
    assert v.mountpoint == str(vol_env.root / "volumes" / "v1" / "_data")
    assert Path(v.mountpoint).is_dir() and not v.anonymous and v.labels == {"k": "x"}
    again = vol_env.stub.Create(pb.CreateVolumeRequest(name="v1", labels={"other": "y"}))
    assert again.labels == {"k": "x"} and again.created == v.created
    assert vol_env.stub.Get(pb.GetVolumeRequest(name="v1")).mountpoint == v.mountpoint
    assert _err(vol_env.stub.Get, pb.GetVolumeRequest(name="nope")) == (
        grpc.StatusCode.NOT_FOUND,
        "get nope: no such volume",
    )


def test_anonymous_and_errors(vol_env: VolEnv) -> None:
    anon = vol_env.stub.Create(pb.CreateVolumeRequest())
    assert len(anon.name) == 64 and all(c in "0123456789abcdef" for c in anon.name)
    assert anon.anonymous and "com.docker.volume.anonymous" in anon.labels
    code, msg = _err(vol_env.stub.Create, pb.CreateVolumeRequest(name="a/b"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "includes invalid characters" in msg
    code, msg = _err(vol_env.stub.Create, pb.CreateVolumeRequest(name="v", driver="nfsx"))
    assert code == grpc.StatusCode.NOT_FOUND and 'plugin "nfsx" not found' in msg
    code, msg = _err(
        vol_env.stub.Create, pb.CreateVolumeRequest(name="vo", driver_opts={"bogus": "1"})
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and msg == 'invalid option: "bogus"'


def test_list_filters(vol_env: VolEnv) -> None:
    s = vol_env.stub
    s.Create(pb.CreateVolumeRequest(name="alpha", labels={"env": "prod"}))
    s.Create(pb.CreateVolumeRequest(name="beta", labels={"env": "dev"}))
    s.Mount(pb.MountVolumeRequest(name="beta", container_id="c1"))
    f = tpb.StringList
    assert _names(s.List(pb.ListVolumesRequest())) == {"alpha", "beta"}
    assert _names(s.List(pb.ListVolumesRequest(filters={"name": f(values=["alp"])}))) == {"alpha"}
    assert _names(s.List(pb.ListVolumesRequest(filters={"label": f(values=["env=dev"])}))) == {
        "beta"
    }
    assert _names(s.List(pb.ListVolumesRequest(filters={"label": f(values=["env"])}))) == {
        "alpha",
        "beta",
    }
    assert _names(s.List(pb.ListVolumesRequest(filters={"dangling": f(values=["true"])}))) == {
        "alpha"
    }
    assert _names(s.List(pb.ListVolumesRequest(filters={"dangling": f(values=["0"])}))) == {"beta"}
    assert (
        _err(s.List, pb.ListVolumesRequest(filters={"bogus": f(values=["1"])}))[0]
        == grpc.StatusCode.INVALID_ARGUMENT
    )


def test_in_use_remove_and_force(vol_env: VolEnv) -> None:
    s = vol_env.stub
    s.Create(pb.CreateVolumeRequest(name="used"))
    path = s.Mount(pb.MountVolumeRequest(name="used", container_id="c1")).path
    s.Mount(pb.MountVolumeRequest(name="used", container_id="c2"))
    s.Mount(pb.MountVolumeRequest(name="used", container_id="c2"))
    assert list(s.Get(pb.GetVolumeRequest(name="used")).used_by) == ["c1", "c2"]
    assert path.endswith("/volumes/used/_data")
    assert _err(s.Remove, pb.RemoveVolumeRequest(name="used")) == (
        grpc.StatusCode.ABORTED,
        "remove used: volume is in use - [c1 c2]",
    )
    s.Unmount(pb.UnmountVolumeRequest(name="used", container_id="c1"))
    s.Unmount(pb.UnmountVolumeRequest(name="used", container_id="c2"))
    s.Unmount(pb.UnmountVolumeRequest(name="used", container_id="c2"))
    s.Remove(pb.RemoveVolumeRequest(name="used"))
    assert not (vol_env.root / "volumes" / "used").exists()
    assert _err(s.Remove, pb.RemoveVolumeRequest(name="used"))[0] == grpc.StatusCode.NOT_FOUND
    s.Remove(pb.RemoveVolumeRequest(name="used", force=True))


def test_prune_anonymous_only_unless_all(vol_env: VolEnv) -> None:
    s = vol_env.stub
    named = s.Create(pb.CreateVolumeRequest(name="keepme"))
    anon = s.Create(pb.CreateVolumeRequest())
    busy = s.Create(pb.CreateVolumeRequest())
    s.Mount(pb.MountVolumeRequest(name=busy.name, container_id="c9"))
    Path(anon.mountpoint, "f").write_bytes(b"x" * 1000)
    resp = s.Prune(pb.PruneVolumesRequest())
    assert list(resp.deleted) == [anon.name] and resp.space_reclaimed == 1000
    resp = s.Prune(pb.PruneVolumesRequest(filters={"all": tpb.StringList(values=["true"])}))
    assert list(resp.deleted) == [named.name]
    assert _names(s.List(pb.ListVolumesRequest())) == {busy.name}


@pytest.mark.root  # chowns files to other owners (CAP_CHOWN)
def test_copy_up_preserves_content_modes_owners(vol_env: VolEnv, tmp_path: Path) -> None:
    src = tmp_path / "img" / "data"
    (src / "sub").mkdir(parents=True)
    (src / "file").write_text("content")
    os.chmod(src / "file", 0o640)
    os.chown(src / "file", 1234, 5678)
    os.symlink("file", src / "link")
    os.link(src / "file", src / "sub" / "hard")
    os.chmod(src, 0o750)
    os.chown(src, 1000, 1000)
    s = vol_env.stub
    s.Create(pb.CreateVolumeRequest(name="cp"))
    path = Path(
        s.Mount(pb.MountVolumeRequest(name="cp", container_id="c1", copy_from=str(src))).path
    )
    st = os.stat(path / "file")
    assert (path / "file").read_text() == "content"
    assert (st.st_mode & 0o7777, st.st_uid, st.st_gid) == (0o640, 1234, 5678)
    assert os.readlink(path / "link") == "file"
    assert os.stat(path / "sub" / "hard").st_ino == st.st_ino
    root = os.stat(path)
    assert (root.st_mode & 0o7777, root.st_uid) == (0o750, 1000)
    # a volume with content is never overwritten
    (path / "file").write_text("changed")
    s.Mount(pb.MountVolumeRequest(name="cp", container_id="c2", copy_from=str(src)))
    assert (path / "file").read_text() == "changed"


@pytest.mark.root
def test_driver_opts_tmpfs_mount(vol_env: VolEnv) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    s = vol_env.stub
    s.Create(
        pb.CreateVolumeRequest(
            name="tmp", driver_opts={"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}
        )
    )
    path = s.Mount(pb.MountVolumeRequest(name="tmp", container_id="c1")).path
    try:
        assert path in Path("/proc/self/mountinfo").read_text()
    finally:
        s.Unmount(pb.UnmountVolumeRequest(name="tmp", container_id="c1"))
    assert path not in Path("/proc/self/mountinfo").read_text()
    s.Remove(pb.RemoveVolumeRequest(name="tmp"))


def test_main_serves_on_its_socket(tmp_path: Path) -> None:
    import signal
    import sys
    import time

    env = {**os.environ, "HANGU_ROOT": f"{tmp_path}/r", "HANGU_RUN": f"{tmp_path}/x"}
    sock = Path(f"{tmp_path}/x/grpc/volume.sock")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hangu_volume.main"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        from hangu.volume.v1 import volume_pb2_grpc as pb_grpc

        with grpc.insecure_channel(f"unix://{sock}") as ch:
            stub = pb_grpc.VolumeServiceStub(ch)
            assert stub.Create(pb.CreateVolumeRequest(name="m1")).name == "m1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_events(vol_env: VolEnv) -> None:
    import time

    from google.protobuf.timestamp_pb2 import Timestamp

    since = Timestamp()
    since.FromNanoseconds(time.time_ns() - 1_000_000)
    s = vol_env.stub
    s.Create(pb.CreateVolumeRequest(name="ev"))
    s.Mount(pb.MountVolumeRequest(name="ev", container_id="c1"))
    s.Unmount(pb.UnmountVolumeRequest(name="ev", container_id="c1"))
    s.Unmount(pb.UnmountVolumeRequest(name="nosuch", container_id="c1"))  # no error
    s.Remove(pb.RemoveVolumeRequest(name="ev"))
    until = Timestamp()
    until.FromNanoseconds(time.time_ns() + 100_000_000)
    events = list(s.Events(tpb.EventsRequest(since=since, until=until), timeout=5))
    assert [(e.action, e.id) for e in events] == [
        ("create", "ev"),
        ("mount", "ev"),
        ("unmount", "ev"),
        ("destroy", "ev"),
    ]
    assert events[1].attributes["container"] == "c1"
