"""The image service as its own process on its real unix socket: a mounted
root filesystem stays mounted across a stop and a restart, and
HANGU_PURGE_ON_STOP=1 unmounts it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hangu.image.v1 import image_pb2 as pb
from hangu.image.v1.image_pb2_grpc import ImageServiceStub
from tests.support.process import dying_with_parent

pytestmark = pytest.mark.root
REPO = Path(__file__).resolve().parents[2]


class Proc:
    def __init__(self, root: Path, run: Path) -> None:
        self.root, self.run = root, run
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def socket(self) -> Path:
        return self.run / "grpc/image.sock"

    def start(self, purge: bool = False) -> ImageServiceStub:
        env = {
            **os.environ,
            "HANGU_ROOT": str(self.root),
            "HANGU_RUN": str(self.run),
            "HANGU_LOG_LEVEL": "warning",
            "PYTHONPATH": os.pathsep.join([str(REPO / "services"), str(REPO)]),
        }
        env.pop("HANGU_PURGE_ON_STOP", None)
        if purge:
            env["HANGU_PURGE_ON_STOP"] = "1"
        self.proc = subprocess.Popen(
            dying_with_parent([sys.executable, "-m", "hangu_image.main"]),
            env=env,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while not self.socket.exists():
            assert self.proc.poll() is None, "image service exited"
            assert time.monotonic() < deadline, "image service did not start"
            time.sleep(0.02)
        channel = grpc.insecure_channel(f"unix://{self.socket}")
        grpc.channel_ready_future(channel).result(timeout=10)
        return ImageServiceStub(channel)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def proc() -> Iterator[Proc]:
    base = Path(tempfile.mkdtemp(prefix="hgt-img-", dir="/tmp"))
    p = Proc(base / "root", base / "run")
    yield p
    p.stop()
    rootfs = base / "root/image/rootfs"
    if rootfs.exists():
        for entry in rootfs.iterdir():
            if os.path.ismount(entry / "merged"):
                subprocess.run(["umount", "-l", str(entry / "merged")], check=False)
    shutil.rmtree(base, ignore_errors=True)


def test_mount_survives_restart_and_purge_unmounts(
    proc: Proc, busybox_docker_archive: Path
) -> None:
    stub = proc.start()
    data = busybox_docker_archive.read_bytes()
    list(stub.Load(iter([pb.LoadRequest(quiet=True), pb.LoadRequest(data=data)])))
    cid = "e4" * 32
    stub.PrepareRootfs(pb.PrepareRootfsRequest(container_id=cid, image_id="busybox"))
    path = Path(stub.MountRootfs(pb.MountRootfsRequest(container_id=cid)).path)
    assert (path / "bin/busybox").exists()
    proc.stop()
    assert not proc.socket.exists()
    assert os.path.ismount(path), "stopping without HANGU_PURGE_ON_STOP must keep mounts"

    stub = proc.start(purge=True)
    again = stub.MountRootfs(pb.MountRootfsRequest(container_id=cid))
    assert again.path == str(path) and (path / "bin/busybox").exists()
    assert stub.Get(pb.GetImageRequest(reference="busybox:latest")).repo_tags == ["busybox:latest"]
    proc.stop()
    assert not os.path.ismount(path), "HANGU_PURGE_ON_STOP=1 unmounts every rootfs"
