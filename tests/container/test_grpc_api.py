"""The container service's gRPC API contract through pytest-grpc: the real
ContainerServicer (hangu_container.service.build) registered on the plugin's
server, its peers (image, network, volume) on real unix sockets started by
stack.PeerStack, all on one temporary root with this module's own bridge,
nftables table, subnet pool and cgroup parent. Create/Start/Wait/Logs/Remove,
the calls it makes to its peers, and Docker's error codes."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.container.v1 import container_pb2 as pb
from hangu.container.v1 import container_pb2_grpc as pb_grpc
from hangu.network.v1 import network_pb2, network_pb2_grpc
from hangu.types.v1 import types_pb2 as tpb
from hangu.volume.v1 import volume_pb2, volume_pb2_grpc
from hangu_runtime.config import load_settings

from .conftest import needs_root
from .stack import PeerStack

pytestmark = [pytest.mark.root, needs_root]

# Wait and Logs hold a worker each while a Start runs (the plugin's default is one).
grpc_max_workers = 16


class PgStack(PeerStack):
    """PeerStack on this module's names: /tmp/hgt-pg-*, bridge hgp*, nftables
    table hgp_*, pool 10.209.0.0/16 cut in /24s, cgroup parent /hgp-*."""

    def __init__(self) -> None:
        super().__init__()
        shutil.rmtree(self.tmp, ignore_errors=True)
        suffix = secrets.token_hex(3)
        self.tmp = Path(tempfile.mkdtemp(prefix="hgt-pg-", dir="/tmp"))
        self.settings = load_settings(
            {
                "HANGU_ROOT": str(self.tmp / "root"),
                "HANGU_RUN": str(self.tmp / "run"),
                "HANGU_BRIDGE": f"hgp{suffix}",
                "HANGU_NFT_TABLE": f"hgp_{suffix}",
                "HANGU_SUBNET_POOL": "10.209.0.0/16:24",
            }
        )
        self.cgroup_parent = f"/hgp-{suffix}"


def _processes_under(path: str) -> list[str]:
    """Command lines of live processes that mention `path` (conmon, runc)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if path in cmd:
            found.append(cmd)
    return found


@pytest.fixture(scope="module")
def pg_stack(busybox_docker_archive: Path) -> Iterator[PgStack]:
    s = PgStack()
    tmp, settings = str(s.tmp), s.settings
    try:
        s.start_peers()
        s.load_image(busybox_docker_archive)
        yield s
    finally:
        s.stop()  # container purge (via services["container"]), peers' purge
    assert not _processes_under(tmp)
    assert tmp not in Path("/proc/self/mountinfo").read_text()
    assert (
        subprocess.run(
            ["ip", "link", "show", settings.bridge], capture_output=True, check=False
        ).returncode
        != 0
    )
    assert (
        subprocess.run(
            ["nft", "list", "table", "inet", settings.nft_table], capture_output=True, check=False
        ).returncode
        != 0
    )


@pytest.fixture(scope="module")
def grpc_interceptors() -> list[Any]:
    from hangu_runtime.server import ErrorAndLogInterceptor

    return [ErrorAndLogInterceptor()]


@pytest.fixture(scope="module")
def grpc_add_to_server() -> Any:
    return pb_grpc.add_ContainerServiceServicer_to_server


@pytest.fixture(scope="module")
def grpc_servicer(pg_stack: PgStack) -> Any:
    from hangu_container.service import build

    lc, servicer = build(pg_stack.settings, parent=pg_stack.cgroup_parent)
    # stack.stop() shuts it down with a purge (kill, runc delete, conmon).
    pg_stack.services["container"] = lc
    return servicer


@pytest.fixture(scope="module")
def grpc_stub_cls(grpc_channel: Any) -> Any:
    return pb_grpc.ContainerServiceStub


@pytest.fixture
def stub(grpc_stub: Any) -> Iterator[Any]:
    yield grpc_stub
    for c in grpc_stub.List(pb.ListContainersRequest(all=True)).containers:
        grpc_stub.Remove(pb.RemoveContainerRequest(reference=c.id, force=True))


def _create(
    stub: Any, cmd: list[str], name: str = "", host_config: pb.HostConfig | None = None
) -> pb.Container:
    return stub.Create(
        pb.CreateContainerRequest(
            name=name,
            config=pb.ContainerConfig(image="busybox", cmd=tpb.StringList(values=cmd)),
            host_config=host_config or pb.HostConfig(),
        )
    )


def _logs(stub: Any, cid: str) -> list[tuple[int, bytes]]:
    return [(x.stream, x.data) for x in stub.Logs(pb.LogsRequest(reference=cid, tail=-1))]


def _err(fn: Any, req: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        fn(req)
    return err.value.code(), err.value.details()


def test_create_start_wait_logs_remove(stub: Any, pg_stack: PgStack) -> None:
    s = pg_stack.settings
    volumes = volume_pb2_grpc.VolumeServiceStub(grpc.insecure_channel(s.grpc_target("volume")))
    network = network_pb2_grpc.NetworkServiceStub(grpc.insecure_channel(s.grpc_target("network")))
    vol, name = "hgpvol-" + secrets.token_hex(3), "pg-" + secrets.token_hex(3)
    script = "ip -4 -o addr show eth0; echo err >&2; echo stored > /data/f; exit 7"
    c = _create(
        stub, ["sh", "-c", script], name=name, host_config=pb.HostConfig(binds=[f"{vol}:/data"])
    )
    assert len(c.id) == 64 and c.name == name and c.state.status == "created"
    # Create asked the volume service for the named volume.
    assert volumes.Get(volume_pb2.GetVolumeRequest(name=vol)).name == vol
    fut = stub.Wait.future(pb.WaitContainerRequest(reference=c.id, condition="next-exit"))
    stub.Start(pb.StartContainerRequest(reference=name))
    assert fut.result(timeout=20).status_code == 7
    # Start mounted it: the container holds a reference until it is removed.
    assert list(volumes.Get(volume_pb2.GetVolumeRequest(name=vol)).used_by) == [c.id]
    got = stub.Get(pb.GetContainerRequest(reference=c.id[:12]))
    assert got.state.status == "exited" and got.state.exit_code == 7
    logs = _logs(stub, c.id)
    out = b"".join(d for st, d in logs if st == pb.OutputChunk.STDOUT).decode()
    assert "inet 10.209." in out, out  # an address on this module's default bridge
    assert [d for st, d in logs if st == pb.OutputChunk.STDERR] == [b"err\n"]
    mountpoint = volumes.Get(volume_pb2.GetVolumeRequest(name=vol)).mountpoint
    assert Path(mountpoint, "f").read_text() == "stored\n"
    stub.Remove(pb.RemoveContainerRequest(reference=c.id))
    assert _err(stub.Get, pb.GetContainerRequest(reference=c.id)) == (
        grpc.StatusCode.NOT_FOUND,
        f"No such container: {c.id}",
    )
    # Remove gave back the volume reference; the sandbox is gone.
    assert not volumes.Get(volume_pb2.GetVolumeRequest(name=vol)).used_by
    assert (
        _err(network.GetSandbox, network_pb2.GetSandboxRequest(container_id=c.id))[0]
        == grpc.StatusCode.NOT_FOUND
    )
    volumes.Remove(volume_pb2.RemoveVolumeRequest(name=vol))


def test_none_network_and_wait_removed(stub: Any) -> None:
    c = _create(stub, ["ip", "-o", "link"], host_config=pb.HostConfig(network_mode="none"))
    fut = stub.Wait.future(pb.WaitContainerRequest(reference=c.id, condition="next-exit"))
    stub.Start(pb.StartContainerRequest(reference=c.id))
    assert fut.result(timeout=20).status_code == 0
    links = [d for _, d in _logs(stub, c.id)]
    text = b"".join(links).decode()
    assert len(text.strip().splitlines()) == 1 and ": lo:" in text, text
    fut = stub.Wait.future(pb.WaitContainerRequest(reference=c.id, condition="removed"))
    stub.Remove(pb.RemoveContainerRequest(reference=c.id))
    assert fut.result(timeout=10).status_code == 0


def test_error_codes(stub: Any) -> None:
    nf = grpc.StatusCode.NOT_FOUND
    assert _err(stub.Get, pb.GetContainerRequest(reference="pgnosuch")) == (
        nf,
        "No such container: pgnosuch",
    )
    assert _err(stub.Start, pb.StartContainerRequest(reference="pgnosuch"))[0] == nf
    assert _err(stub.Wait, pb.WaitContainerRequest(reference="pgnosuch"))[0] == nf
    assert _err(lambda r: list(stub.Logs(r)), pb.LogsRequest(reference="pgnosuch"))[0] == nf
    assert _err(stub.Remove, pb.RemoveContainerRequest(reference="pgnosuch")) == (
        nf,
        "No such container: pgnosuch",
    )
    assert _err(
        stub.Create, pb.CreateContainerRequest(config=pb.ContainerConfig(image="pgnosuchimage"))
    ) == (nf, "No such image: pgnosuchimage")
    assert (
        _err(lambda r: _create(stub, ["true"], name=r), "bad name")[0]
        == grpc.StatusCode.INVALID_ARGUMENT
    )
    c = _create(stub, ["sleep", "300"], name="pgdup")
    code, msg = _err(lambda r: _create(stub, ["true"], name=r), "pgdup")
    assert code == grpc.StatusCode.ABORTED
    assert msg.startswith(
        f'Conflict. The container name "/pgdup" is already in use by container "{c.id}".'
    )
    assert _err(stub.Kill, pb.KillContainerRequest(reference="pgdup")) == (
        grpc.StatusCode.ABORTED,
        f"Container {c.id} is not running",
    )
    stub.Start(pb.StartContainerRequest(reference="pgdup"))
    assert stub.Start(pb.StartContainerRequest(reference="pgdup")).not_modified
    running = (
        f"You cannot remove a running container {c.id}. Stop the container before "
        "attempting removal or force remove"
    )
    assert _err(stub.Remove, pb.RemoveContainerRequest(reference="pgdup")) == (
        grpc.StatusCode.ABORTED,
        running,
    )
    stub.Kill(pb.KillContainerRequest(reference="pgdup", signal="KILL"))
    assert stub.Wait(pb.WaitContainerRequest(reference="pgdup"), timeout=20).status_code == 137
    stub.Remove(pb.RemoveContainerRequest(reference="pgdup"))


def test_created_container_holds_its_volume(stub: Any, pg_stack: PgStack) -> None:
    volumes = volume_pb2_grpc.VolumeServiceStub(
        grpc.insecure_channel(pg_stack.settings.grpc_target("volume"))
    )
    vol = "hgpvol-" + secrets.token_hex(3)
    c = _create(stub, ["true"], host_config=pb.HostConfig(binds=[f"{vol}:/data"]))
    try:
        assert list(volumes.Get(volume_pb2.GetVolumeRequest(name=vol)).used_by) == [c.id]
        # dockerd: `docker volume rm` of a created container's volume is refused.
        assert (
            _err(volumes.Remove, volume_pb2.RemoveVolumeRequest(name=vol))[0]
            == grpc.StatusCode.ABORTED
        )
    finally:
        stub.Remove(pb.RemoveContainerRequest(reference=c.id, force=True))
        try:
            volumes.Remove(volume_pb2.RemoveVolumeRequest(name=vol, force=True))
        except grpc.RpcError:
            pass
