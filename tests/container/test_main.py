"""`python -m hangu_container.main` as its own process with real peers:
SIGKILL leaves containers running and a new process adopts them;
SIGTERM with HANGU_PURGE_ON_STOP=1 kills and deletes every container."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hangu.container.v1 import container_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from hangu_container.runtime import Runtime, RuntimePaths

from .conftest import needs_root
from .stack import PeerStack

pytestmark = [pytest.mark.root, needs_root]
CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def peers(busybox_docker_archive: Path) -> Iterator[PeerStack]:
    s = PeerStack()
    try:
        s.start_peers()
        s.load_image(busybox_docker_archive)
        yield s
    finally:
        s.stop()


def _spawn(stack: PeerStack, purge: bool) -> subprocess.Popen[bytes]:
    s = stack.settings
    env = dict(
        os.environ,
        HANGU_ROOT=str(s.root),
        HANGU_RUN=str(s.run),
        HANGU_BRIDGE=s.bridge,
        HANGU_NFT_TABLE=s.nft_table,
        HANGU_SUBNET_POOL=s.subnet_pool,
        HANGU_LOG_LEVEL="warning",
        HANGU_CGROUP_PARENT=stack.cgroup_parent,
        PYTHONPATH=f"{CHECKOUT / 'services'}:{os.environ.get('PYTHONPATH', '')}",
    )
    env.pop("HANGU_PURGE_ON_STOP", None)
    if purge:
        env["HANGU_PURGE_ON_STOP"] = "1"
    sock = s.grpc_socket("container")
    if sock.exists():
        sock.unlink()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hangu_container.main"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while not sock.exists():
        assert proc.poll() is None, "container service died"
        assert time.monotonic() < deadline, "container service did not come up"
        time.sleep(0.05)
    return proc


def _stub(stack: PeerStack) -> object:
    return stack.container_stub()


def _run_sleeper(stub: object) -> str:
    c = stub.Create(
        pb.CreateContainerRequest(  # type: ignore[attr-defined]
            config=pb.ContainerConfig(image="busybox", cmd=tpb.StringList(values=["sleep", "300"]))
        )
    )
    stub.Start(pb.StartContainerRequest(reference=c.id))  # type: ignore[attr-defined]
    return str(c.id)


def test_sigkill_then_adopt_then_purge(peers: PeerStack) -> None:
    s = peers.settings
    rt_paths = RuntimePaths(s.run_dir("container"), s.data_dir("container"))
    proc = _spawn(peers, purge=False)
    try:
        cid = _run_sleeper(_stub(peers))
        conmon_pid = int((rt_paths.bundle(cid) / "conmon.pid").read_text())
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert Runtime.conmon_alive(conmon_pid, cid), "the container died with the service"
        proc = _spawn(peers, purge=False)
        stub = _stub(peers)
        got = stub.Get(pb.GetContainerRequest(reference=cid))
        assert got.state.status == "running"
        assert not stub.Stop(pb.StopContainerRequest(reference=cid, timeout=1)).not_modified
        assert stub.Get(pb.GetContainerRequest(reference=cid)).state.status == "exited"
        assert not Runtime.conmon_alive(conmon_pid, cid)
        # SIGTERM without purge: containers keep running.
        kept = _run_sleeper(stub)
        kept_conmon = int((rt_paths.bundle(kept) / "conmon.pid").read_text())
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert Runtime.conmon_alive(kept_conmon, kept)
        # SIGTERM with purge: everything goes.
        proc = _spawn(peers, purge=True)
        assert _stub(peers).Get(pb.GetContainerRequest(reference=kept)).state.running
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        assert not Runtime.conmon_alive(kept_conmon, kept)
        assert os.listdir(rt_paths.runc_root) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc = _spawn(peers, purge=True)
    try:
        with pytest.raises(grpc.RpcError):
            _stub(peers).Get(pb.GetContainerRequest(reference=kept))
        assert len(_stub(peers).List(pb.ListContainersRequest(all=True)).containers) == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
