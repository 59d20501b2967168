"""The container service's gRPC API with the real image, network and volume
services: create/start/wait/logs/attach/stop/kill/rm, errors, none network,
volumes, and surviving a restart of the service."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hangu.container.v1 import container_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb

from .conftest import needs_root
from .stack import PeerStack

pytestmark = [pytest.mark.root, needs_root]


@pytest.fixture(scope="module")
def stack(busybox_docker_archive: Path) -> Iterator[PeerStack]:
    s = PeerStack()
    try:
        s.start_peers()
        s.load_image(busybox_docker_archive)
        s.start_container_service()
        yield s
    finally:
        s.stop()


@pytest.fixture
def stub(stack: PeerStack) -> Iterator[object]:
    stub = stack.container_stub()
    yield stub
    # Remove what the test left.
    for c in stub.List(pb.ListContainersRequest(all=True)).containers:
        stub.Remove(pb.RemoveContainerRequest(reference=c.id, force=True))


def create(stub: object, cmd: list[str], name: str = "", **cfg: object) -> pb.Container:
    hc = cfg.pop("host_config", pb.HostConfig())
    return stub.Create(
        pb.CreateContainerRequest(  # type: ignore[attr-defined]
            name=name,
            config=pb.ContainerConfig(image="busybox", cmd=tpb.StringList(values=cmd), **cfg),
            host_config=hc,
        )
    )


def wait_async(stub: object, cid: str, condition: str = "next-exit") -> object:
    return stub.Wait.future(
        pb.WaitContainerRequest(
            reference=cid,  # type: ignore[attr-defined]
            condition=condition,
        )
    )


def logs_of(stub: object, cid: str, **kw: object) -> list[pb.OutputChunk]:
    kw.setdefault("tail", -1)
    return list(stub.Logs(pb.LogsRequest(reference=cid, **kw)))  # type: ignore[attr-defined]


def test_run_exit_code_and_logs(stub: object) -> None:
    c = create(stub, ["sh", "-c", "echo hello; echo oops >&2; exit 3"])
    assert len(c.id) == 64 and c.state.status == "created" and c.config.hostname == c.id[:12]
    assert "_" in c.name
    fut = wait_async(stub, c.id)
    t0 = time.monotonic()
    stub.Start(pb.StartContainerRequest(reference=c.id[:12]))
    assert fut.result(timeout=20).status_code == 3
    print(f"start→exit {1000 * (time.monotonic() - t0):.1f} ms")
    got = stub.Get(pb.GetContainerRequest(reference=c.name))
    assert got.state.status == "exited" and got.state.exit_code == 3
    chunks = logs_of(stub, c.id)
    assert [(x.stream, x.data) for x in chunks] == [
        (pb.OutputChunk.STDOUT, b"hello\n"),
        (pb.OutputChunk.STDERR, b"oops\n"),
    ]
    assert [x.data for x in logs_of(stub, c.id, stderr=True)] == [b"oops\n"]
    assert [x.data for x in logs_of(stub, c.id, tail=1)] == [b"oops\n"]
    # Start again: the same container runs once more.
    fut = wait_async(stub, c.id)
    stub.Start(pb.StartContainerRequest(reference=c.id))
    assert fut.result(timeout=20).status_code == 3
    assert len(logs_of(stub, c.id)) == 4


def test_errors(stub: object) -> None:
    with pytest.raises(grpc.RpcError) as err:
        stub.Get(pb.GetContainerRequest(reference="nosuch"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "No such container: nosuch"
    with pytest.raises(grpc.RpcError) as err:
        stub.Create(pb.CreateContainerRequest(config=pb.ContainerConfig(image="nosuchimage")))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "No such image: nosuchimage"
    c = create(stub, ["true"], name="dup")
    with pytest.raises(grpc.RpcError) as err:
        create(stub, ["true"], name="dup")
    assert err.value.code() == grpc.StatusCode.ABORTED
    assert err.value.details() == (
        f'Conflict. The container name "/dup" is already in use by container "{c.id}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    with pytest.raises(grpc.RpcError) as err:
        create(stub, ["true"], name="bad name")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        stub.Kill(pb.KillContainerRequest(reference="dup"))
    assert err.value.code() == grpc.StatusCode.ABORTED
    assert err.value.details() == f"Container {c.id} is not running"
    assert stub.Stop(pb.StopContainerRequest(reference="dup")).not_modified
    with pytest.raises(grpc.RpcError) as err:
        c2 = create(stub, ["/nosuchbinary"])
        stub.Start(pb.StartContainerRequest(reference=c2.id))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "nosuchbinary" in err.value.details()


def test_detached_stop_kill_remove(stub: object) -> None:
    c = create(stub, ["sleep", "300"], name="sleeper")
    stub.Start(pb.StartContainerRequest(reference="sleeper"))
    assert stub.Start(pb.StartContainerRequest(reference="sleeper")).not_modified
    running = stub.List(pb.ListContainersRequest()).containers
    assert [x.id for x in running] == [c.id] and running[0].state.pid > 0
    with pytest.raises(grpc.RpcError) as err:
        stub.Remove(pb.RemoveContainerRequest(reference="sleeper"))
    assert err.value.code() == grpc.StatusCode.ABORTED
    assert err.value.details() == (
        f"You cannot remove a running container {c.id}. Stop the container before "
        "attempting removal or force remove"
    )
    t0 = time.monotonic()
    assert not stub.Stop(pb.StopContainerRequest(reference="sleeper", timeout=1)).not_modified
    # busybox sleep as pid 1 ignores SIGTERM: SIGKILL after the timeout.
    assert 0.9 < time.monotonic() - t0 < 5
    got = stub.Get(pb.GetContainerRequest(reference=c.id))
    assert got.state.status == "exited" and got.state.exit_code == 137
    stub.Start(pb.StartContainerRequest(reference=c.id))
    stub.Kill(pb.KillContainerRequest(reference=c.id, signal="KILL"))
    assert stub.Wait(pb.WaitContainerRequest(reference=c.id)).status_code == 137
    fut = wait_async(stub, c.id, "removed")
    stub.Remove(pb.RemoveContainerRequest(reference=c.id))
    assert fut.result(timeout=10).status_code == 137
    with pytest.raises(grpc.RpcError):
        stub.Get(pb.GetContainerRequest(reference=c.id))


def _attach(
    stub: object,
    cid: str,
    stdin_data: list[bytes],
    close: bool = True,
    tty_resize: tuple[int, int] | None = None,
    start: bool = True,
) -> list[pb.OutputChunk]:
    ready = threading.Event()

    def requests() -> Iterator[pb.AttachRequest]:
        yield pb.AttachRequest(reference=cid, stdin=True, stdout=True, stderr=True, stream=True)
        ready.wait()
        for d in stdin_data:
            yield pb.AttachRequest(stdin_data=d)
        if tty_resize:
            yield pb.AttachRequest(
                resize=pb.TerminalSize(height=tty_resize[0], width=tty_resize[1])
            )
        if close:
            yield pb.AttachRequest(close_stdin=True)
        # Keep the request stream open: EOF must come from close_stdin.
        time.sleep(30)

    out: list[pb.OutputChunk] = []
    call = stub.Attach(requests())  # type: ignore[attr-defined]
    time.sleep(0.2)  # let the attach register before the start
    if start:
        stub.Start(pb.StartContainerRequest(reference=cid))  # type: ignore[attr-defined]
    ready.set()
    for chunk in call:
        out.append(chunk)
    return out


def test_attach_stdin_eof(stub: object) -> None:
    c = create(
        stub,
        ["sh", "-c", "echo before; cat; echo after >&2"],
        open_stdin=True,
        stdin_once=True,
        attach_stdin=True,
    )
    out = _attach(stub, c.id, [b"data\n", b"more\n"])
    stdout = b"".join(x.data for x in out if x.stream == pb.OutputChunk.STDOUT and not x.exited)
    stderr = b"".join(x.data for x in out if x.stream == pb.OutputChunk.STDERR)
    assert stdout == b"before\ndata\nmore\n" and stderr == b"after\n"
    assert out[-1].exited and out[-1].exit_code == 0


def test_attach_tty(stub: object) -> None:
    c = create(stub, ["sh"], open_stdin=True, stdin_once=True, tty=True)
    out = _attach(stub, c.id, [b"stty size; exit 5\n"], close=False, tty_resize=(40, 120))
    text = b"".join(x.data for x in out)
    assert out[-1].exited and out[-1].exit_code == 5
    assert b"\r\n" in text


def test_none_network_and_hostname(stub: object) -> None:
    c = create(
        stub,
        ["sh", "-c", "ip -o link; hostname; cat /etc/hostname"],
        host_config=pb.HostConfig(network_mode="none"),
    )
    fut = wait_async(stub, c.id)
    stub.Start(pb.StartContainerRequest(reference=c.id))
    assert fut.result(timeout=20).status_code == 0
    text = b"".join(x.data for x in logs_of(stub, c.id)).decode()
    links = [line for line in text.splitlines() if ": " in line and "link/" in line]
    assert len(links) == 1 and "lo" in links[0], text
    assert text.count(c.id[:12]) == 2


def test_bridge_network_and_volume(stub: object) -> None:
    hc = pb.HostConfig(binds=["hgcvol:/data"])
    a = create(stub, ["sh", "-c", "ip -4 -o addr show eth0; echo stored > /data/f"], host_config=hc)
    fut = wait_async(stub, a.id)
    stub.Start(pb.StartContainerRequest(reference=a.id))
    assert fut.result(timeout=20).status_code == 0
    text = b"".join(x.data for x in logs_of(stub, a.id)).decode()
    assert "inet 10.202." in text, text
    got = stub.Get(pb.GetContainerRequest(reference=a.id))
    assert got.mounts[0].name == "hgcvol" and got.mounts[0].destination == "/data"
    b = create(
        stub,
        ["cat", "/data/f"],
        host_config=pb.HostConfig(binds=["hgcvol:/data:ro"], auto_remove=True),
    )
    fut = wait_async(stub, b.id, "removed")
    stub.Start(pb.StartContainerRequest(reference=b.id))
    assert fut.result(timeout=20).status_code == 0


def test_follow_logs(stub: object) -> None:
    c = create(stub, ["sh", "-c", "echo one; sleep 0.3; echo two"])
    stub.Start(pb.StartContainerRequest(reference=c.id))
    chunks = logs_of(stub, c.id, follow=True)
    assert [x.data for x in chunks] == [b"one\n", b"two\n"]


def test_restart_survival(stack: PeerStack, stub: object) -> None:
    c = create(stub, ["sleep", "300"], name="survivor")
    stub.Start(pb.StartContainerRequest(reference=c.id))
    stack.stop_container_service(purge=False)
    stack.start_container_service()
    fresh = stack.container_stub()
    got = fresh.Get(pb.GetContainerRequest(reference="survivor"))
    assert got.state.status == "running" and got.state.running
    assert not fresh.Stop(pb.StopContainerRequest(reference="survivor", timeout=1)).not_modified
    got = fresh.Get(pb.GetContainerRequest(reference="survivor"))
    assert got.state.status == "exited"


def test_events_prefix_rename_pause(stub: object) -> None:
    since = time.time_ns()
    c = create(stub, ["sleep", "300"], name="evt")
    stub.Start(pb.StartContainerRequest(reference=c.id))
    stub.Pause(pb.PauseContainerRequest(reference=c.id[:10]))
    assert stub.Get(pb.GetContainerRequest(reference="evt")).state.status == "paused"
    stub.Unpause(pb.UnpauseContainerRequest(reference="evt"))
    stub.Rename(pb.RenameContainerRequest(reference="evt", new_name="evt2"))
    top = stub.Top(pb.TopRequest(reference="evt2"))
    assert "PID" in top.titles and any("sleep" in " ".join(p.values) for p in top.processes)
    stub.Kill(pb.KillContainerRequest(reference="evt2", signal="SIGKILL"))
    stub.Remove(pb.RemoveContainerRequest(reference="evt2"))
    from google.protobuf.timestamp_pb2 import Timestamp

    s, u = Timestamp(), Timestamp()
    s.FromNanoseconds(since)
    u.FromNanoseconds(time.time_ns())
    actions = [e.action for e in stub.Events(tpb.EventsRequest(since=s, until=u)) if e.id == c.id]
    assert actions == ["create", "start", "pause", "unpause", "rename", "kill", "die", "destroy"], (
        actions
    )


def test_ambiguous_prefix(stub: object) -> None:
    made = [create(stub, ["true"]) for _ in range(20)]
    firsts: dict[str, int] = {}
    for c in made:
        firsts[c.id[0]] = firsts.get(c.id[0], 0) + 1
    letter = next(k for k, v in firsts.items() if v > 1)
    with pytest.raises(grpc.RpcError) as err:
        stub.Get(pb.GetContainerRequest(reference=letter))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "multiple IDs found" in err.value.details()


def test_restart_policy_on_failure(stub: object) -> None:
    hc = pb.HostConfig(restart_policy=pb.RestartPolicy(name="on-failure", maximum_retry_count=2))
    c = create(stub, ["sh", "-c", "echo run; exit 1"], host_config=hc)
    stub.Start(pb.StartContainerRequest(reference=c.id))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = stub.Get(pb.GetContainerRequest(reference=c.id))
        if got.restart_count == 2 and got.state.status == "exited":
            break
        time.sleep(0.1)
    assert got.restart_count == 2 and got.state.exit_code == 1
    assert len(logs_of(stub, c.id)) == 3


def _exec(
    stub: object, cid: str, cmd: list[str], stdin: list[bytes] | None = None, tty: bool = False
) -> tuple[list[pb.OutputChunk], str]:
    eid = stub.CreateExec(
        pb.CreateExecRequest(  # type: ignore[attr-defined]
            reference=cid,
            cmd=cmd,
            attach_stdin=stdin is not None,
            attach_stdout=True,
            attach_stderr=True,
            tty=tty,
            env=["X=1"],
        )
    ).id

    def requests() -> Iterator[pb.StartExecRequest]:
        yield pb.StartExecRequest(exec_id=eid, tty=tty)
        for d in stdin or []:
            yield pb.StartExecRequest(stdin_data=d)
        if stdin is not None:
            yield pb.StartExecRequest(close_stdin=True)
        time.sleep(30)

    out = list(stub.StartExec(requests()))  # type: ignore[attr-defined]
    # The first answer, empty, says the process runs.
    assert out[0] == pb.OutputChunk()
    return out[1:], eid


def test_exec(stub: object) -> None:
    c = create(stub, ["sleep", "300"])
    stub.Start(pb.StartContainerRequest(reference=c.id))
    out, eid = _exec(stub, c.id, ["sh", "-c", "echo $X; echo e >&2; exit 4"])
    assert [(x.stream, x.data) for x in out[:-1]] == [
        (pb.OutputChunk.STDOUT, b"1\n"),
        (pb.OutputChunk.STDERR, b"e\n"),
    ]
    assert out[-1].exited and out[-1].exit_code == 4
    info = stub.GetExec(pb.GetExecRequest(exec_id=eid))
    assert not info.running and info.HasField("exit_code") and info.exit_code == 4
    out, _ = _exec(stub, c.id, ["cat"], stdin=[b"piped\n"])
    assert b"".join(x.data for x in out) == b"piped\n" and out[-1].exit_code == 0
    out, _ = _exec(stub, c.id, ["tty"], tty=True)
    assert b"/dev/pts/" in b"".join(x.data for x in out)
    with pytest.raises(grpc.RpcError):
        _exec(stub, c.id, ["/nosuch"])
    stub.Kill(pb.KillContainerRequest(reference=c.id))


def test_follow_cancel_releases(stub: object) -> None:
    c = create(stub, ["sh", "-c", "echo up; exec sleep 300"])
    stub.Start(pb.StartContainerRequest(reference=c.id))
    call = stub.Logs(pb.LogsRequest(reference=c.id, follow=True, tail=-1))
    assert next(call).data == b"up\n"
    before = threading.active_count()
    call.cancel()
    deadline = time.monotonic() + 3
    while threading.active_count() >= before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() < before
    stub.Kill(pb.KillContainerRequest(reference=c.id))


def test_stats(stub: object) -> None:
    c = create(stub, ["sleep", "300"], host_config=pb.HostConfig(memory=64 << 20))
    stub.Start(pb.StartContainerRequest(reference=c.id))
    samples = []
    for s in stub.Stats(pb.StatsRequest(reference=c.id, stream=True)):
        samples.append(s)
        if len(samples) == 2:
            break
    s = samples[-1]
    assert s.memory_limit == 64 << 20 and s.memory_usage > 0 and s.pids_current == 1
    assert s.cpu_total_usage > 0 and s.system_cpu_usage > samples[0].system_cpu_usage
    assert "eth0" in s.networks
    stub.Kill(pb.KillContainerRequest(reference=c.id))


def test_archive_get_and_put(stub: object, tmp_path: Path) -> None:
    import io
    import tarfile

    c = create(
        stub, ["sh", "-c", "mkdir -p /w/d; echo hi > /w/d/f; ln -s /etc /w/esc; exec sleep 300"]
    )
    stub.Start(pb.StartContainerRequest(reference=c.id))
    time.sleep(0.3)
    chunks = list(stub.GetArchive(pb.GetArchiveRequest(reference=c.id, path="/w/d")))
    st = chunks[0].stat
    assert st.name == "d" and st.mode & (1 << 31)
    tar = tarfile.open(fileobj=io.BytesIO(b"".join(x.data for x in chunks)))
    assert tar.extractfile("d/f").read() == b"hi\n"  # type: ignore[union-attr]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as out:
        info = tarfile.TarInfo("new.txt")
        info.size = 3
        out.addfile(info, io.BytesIO(b"new"))
        # A path through the container's absolute symlink stays inside it.
        info = tarfile.TarInfo("esc/hgc-escape-test")
        info.size = 1
        out.addfile(info, io.BytesIO(b"x"))
    data = buf.getvalue()
    stub.PutArchive(
        iter([pb.PutArchiveRequest(reference=c.id, path="/w"), pb.PutArchiveRequest(data=data)])
    )
    assert not os.path.exists("/etc/hgc-escape-test")
    back = list(stub.GetArchive(pb.GetArchiveRequest(reference=c.id, path="/w/new.txt")))
    tar = tarfile.open(fileobj=io.BytesIO(b"".join(x.data for x in back)))
    assert tar.extractfile("new.txt").read() == b"new"  # type: ignore[union-attr]
    with pytest.raises(grpc.RpcError) as err:
        list(stub.GetArchive(pb.GetArchiveRequest(reference=c.id, path="/nope")))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    stub.Kill(pb.KillContainerRequest(reference=c.id))
    # Stopped: read through the root filesystem.
    chunks = list(stub.GetArchive(pb.GetArchiveRequest(reference=c.id, path="/w/d/f")))
    assert chunks[0].stat.size == 3


def test_update_resources_and_policy(stub: object) -> None:
    c = create(stub, ["sleep", "300"])
    stub.Start(pb.StartContainerRequest(reference=c.id))
    stub.Update(
        pb.UpdateContainerRequest(
            reference=c.id,
            resources=pb.HostConfig(memory=96 << 20, pids_limit=20),
            restart_policy=pb.RestartPolicy(name="unless-stopped"),
        )
    )
    got = stub.Get(pb.GetContainerRequest(reference=c.id))
    assert got.host_config.memory == 96 << 20
    assert got.host_config.restart_policy.name == "unless-stopped"
    sample = next(iter(stub.Stats(pb.StatsRequest(reference=c.id))))
    assert sample.memory_limit == 96 << 20 and sample.pids_limit == 20
    stub.Kill(pb.KillContainerRequest(reference=c.id))


def test_300_open_streams_do_not_delay_unary_calls(stack: PeerStack) -> None:
    stack.stop_container_service()
    stack.start_container_service(full_size=True)
    stub = stack.container_stub()
    c = create(stub, ["sh", "-c", "echo up; exec sleep 300"])
    stub.Start(pb.StartContainerRequest(reference=c.id))
    waits = [wait_async(stub, c.id) for _ in range(150)]
    follows = [stub.Logs(pb.LogsRequest(reference=c.id, follow=True, tail=-1)) for _ in range(150)]
    for f in follows:
        assert next(f).data == b"up\n"
    times = []
    for _ in range(20):
        t0 = time.monotonic()
        stub.Get(pb.GetContainerRequest(reference=c.id))
        times.append(time.monotonic() - t0)
    times.sort()
    assert times[len(times) // 2] < 0.05, times
    stub.Kill(pb.KillContainerRequest(reference=c.id))
    assert all(w.result(timeout=20).status_code == 137 for w in waits)
    for f in follows:
        assert list(f) == []
    stub.Remove(pb.RemoveContainerRequest(reference=c.id))
    stack.stop_container_service()
    stack.start_container_service()


def test_log_max_size_bounds_the_file(stack: PeerStack, stub: object) -> None:
    hc = pb.HostConfig(log_config=pb.LogConfig(type="json-file", config={"max-size": "64k"}))
    c = create(
        stub,
        ["sh", "-c", "i=0; while [ $i -lt 3000 ]; do echo line-$i; i=$((i+1)); done"],
        host_config=hc,
    )
    fut = wait_async(stub, c.id)
    stub.Start(pb.StartContainerRequest(reference=c.id))
    assert fut.result(timeout=30).status_code == 0
    path = stack.settings.data_dir("container") / "containers" / c.id / "ctr.log"
    assert path.stat().st_size <= 64 * 1024
    last = logs_of(stub, c.id, tail=1)
    assert last[0].data == b"line-2999\n"


def test_detach_keys_leave_a_tty_container_running(stub: object) -> None:
    c = create(stub, ["sh"], open_stdin=True, stdin_once=True, tty=True)
    out = _attach(stub, c.id, [b"echo one\n", b"\x10\x11"], close=False)
    assert not any(x.exited for x in out)
    assert stub.Get(pb.GetContainerRequest(reference=c.id)).state.running
    out = _attach(stub, c.id, [b"exit 3\n"], close=False, start=False)
    assert out[-1].exited and out[-1].exit_code == 3


def test_health_checks(stub: object) -> None:
    def check(test: list[str], retries: int = 2) -> pb.Healthcheck:
        return pb.Healthcheck(
            test=test, interval_ns=200_000_000, timeout_ns=2_000_000_000, retries=retries
        )

    good = create(stub, ["sleep", "300"], healthcheck=check(["CMD-SHELL", "test -d /etc"]))
    bad = create(stub, ["sleep", "300"], healthcheck=check(["CMD", "false"]))
    for c in (good, bad):
        stub.Start(pb.StartContainerRequest(reference=c.id))
        assert stub.Get(pb.GetContainerRequest(reference=c.id)).state.health.status == "starting"
    deadline = time.monotonic() + 10
    states: tuple[str, str] = ("", "")
    while time.monotonic() < deadline:
        states = tuple(
            stub.Get(pb.GetContainerRequest(reference=c.id)).state.health.status
            for c in (good, bad)
        )  # type: ignore[assignment]
        if states == ("healthy", "unhealthy"):
            break
        time.sleep(0.1)
    assert states == ("healthy", "unhealthy")
    health = stub.Get(pb.GetContainerRequest(reference=bad.id)).state.health
    assert health.failing_streak >= 2 and health.log[-1].exit_code == 1
    for c in (good, bad):
        stub.Kill(pb.KillContainerRequest(reference=c.id))


def test_prune_filters(stub: object) -> None:
    keep = create(stub, ["true"], labels={"keep": "1"})
    gone = create(stub, ["true"])
    running = create(stub, ["sleep", "300"])
    stub.Start(pb.StartContainerRequest(reference=running.id))
    resp = stub.Prune(
        pb.PruneContainersRequest(filters={"label!": tpb.StringList(values=["keep"])})
    )
    assert list(resp.deleted) == [gone.id]
    resp = stub.Prune(pb.PruneContainersRequest(filters={"until": tpb.StringList(values=["1h"])}))
    assert list(resp.deleted) == []
    assert stub.Get(pb.GetContainerRequest(reference=keep.id)).id == keep.id
    stub.Kill(pb.KillContainerRequest(reference=running.id))


def test_size(stub: object) -> None:
    c = create(stub, ["sh", "-c", "head -c 100000 /dev/zero > /big"])
    fut = wait_async(stub, c.id)
    stub.Start(pb.StartContainerRequest(reference=c.id))
    assert fut.result(timeout=20).status_code == 0
    got = stub.Get(pb.GetContainerRequest(reference=c.id, size=True))
    assert 100000 <= got.size_rw < 200000 and got.size_root_fs > got.size_rw
    assert stub.Get(pb.GetContainerRequest(reference=c.id)).size_rw == -1
