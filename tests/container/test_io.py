"""Attach and exec I/O of the container service under load: megabytes of
stdin sent before the start (the start must not wait for the container to
read it), binary stdin without a TTY, a paused reader (bounded memory, the
service keeps answering), clients leaving (no thread or fd left behind),
and 30 TTY attach + exec sessions in parallel (no fd leaked)."""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from hangu.container.v1 import container_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from hangu_container import fds
from hangu_container.inotify import Inotify

from .conftest import needs_root
from .stack import PeerStack

MB = 1_000_000


# ---------------------------------------------------------------- no root


def test_inotify_close_is_idempotent() -> None:
    """A second close must not close whatever reused the number."""
    ino = Inotify()
    numbers = {ino.fd}
    ino.close()
    reused = [os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC) for _ in range(3)]
    try:
        assert numbers & set(reused), "the kernel did not recycle the number"
        ino.close()
        for fd in reused:
            os.fstat(fd)  # still open
        assert ino.wait(0) is False
        assert list(ino.read(0)) == []
    finally:
        for fd in reused:
            os.close(fd)


def test_fd_owner_closes_once() -> None:
    r, w = fds.pipe()
    number = w.fileno()
    w.close()
    other = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert other == number
        w.close()
        os.fstat(other)
        with pytest.raises(OSError):
            w.write(b"x")
    finally:
        os.close(other)
        r.close()


# ---------------------------------------------------------------- the service


@pytest.fixture(scope="module")
def stack(busybox_docker_archive: Path) -> Iterator[PeerStack]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    s = PeerStack()
    try:
        s.start_peers()
        s.load_image(busybox_docker_archive)
        s.start_container_service()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def stub(stack: PeerStack) -> Iterator[object]:
    channel = grpc.insecure_channel(stack.settings.grpc_target("container"))
    from hangu.container.v1 import container_pb2_grpc

    stub = container_pb2_grpc.ContainerServiceStub(channel)
    yield stub
    for c in stub.List(pb.ListContainersRequest(all=True)).containers:
        stub.Remove(pb.RemoveContainerRequest(reference=c.id, force=True))
    channel.close()


def _payload(size: int, seed: int) -> bytes:
    data = bytearray(random.Random(seed).randbytes(size))
    for pos in range(100, size - 2, max(size // 9, 3)):
        data[pos : pos + 2] = b"\x10\x11"  # docker's default detach keys
    return bytes(data)


def _create(stub: object, cmd: list[str], **cfg: object) -> str:
    c = stub.Create(
        pb.CreateContainerRequest(  # type: ignore[attr-defined]
            config=pb.ContainerConfig(image="busybox", cmd=tpb.StringList(values=cmd), **cfg)
        )
    )
    return str(c.id)


def _stdin(
    cid: str, chunks: list[bytes], close: bool = True, hold: threading.Event | None = None
) -> Iterator[pb.AttachRequest]:
    yield pb.AttachRequest(reference=cid, stdin=True, stdout=True, stderr=True, stream=True)
    for chunk in chunks:
        yield pb.AttachRequest(stdin_data=chunk)
    if close:
        yield pb.AttachRequest(close_stdin=True)
    if hold is not None:
        hold.wait(60)


def _collect(call: Iterator[pb.OutputChunk]) -> tuple[bytes, int | None]:
    out = bytearray()
    code = None
    for chunk in call:
        if chunk.exited:
            code = chunk.exit_code
        out += chunk.data
    return bytes(out), code


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _io_fds() -> int:
    """The kinds of fds attach and exec use: conmon's attach sockets
    (SEQPACKET), pipes (sync, start, attach pipes), inotify. (The peer
    services run in this process too; their per-thread DB connections and
    netlink sockets grow with the thread pools.)"""
    return sum(
        1
        for v in _fd_table().values()
        if v.endswith(" seqpacket") or v.startswith("pipe:") or "inotify" in v
    )


def _fd_table() -> dict[str, str]:
    """fd → what it is; unix sockets with their type (SEQPACKET: conmon's
    attach socket) from /proc/net/unix."""
    kinds = {}
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        parts = line.split()
        kinds[parts[6]] = {"0001": "stream", "0002": "dgram", "0005": "seqpacket"}.get(
            parts[4], parts[4]
        )
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            target += " " + kinds.get(target[8:-1], "inet?")
        out[name] = target
    return out


def _threads(prefix: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith(prefix))


def _settle(measure: object, target: int, timeout: float = 15) -> int:
    deadline = time.monotonic() + timeout
    value = measure()  # type: ignore[operator]
    while value > target and time.monotonic() < deadline:
        time.sleep(0.1)
        value = measure()  # type: ignore[operator]
    return int(value)


@needs_root
@pytest.mark.root
def test_stdin_before_start_does_not_block_the_start(stub: object) -> None:
    """8 MB of stdin queued before Start: conmon cannot take it until the
    container runs, so a start that flushed it first never returned."""
    # No ctrl-p here: this test is about the start, not the detach keys.
    data = random.Random(1).randbytes(8 * MB).replace(b"\x10", b" ")
    cid = _create(stub, ["cat"], open_stdin=True, stdin_once=True, attach_stdin=True)
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]
    call = stub.Attach(_stdin(cid, chunks))  # type: ignore[attr-defined]
    time.sleep(0.5)  # the client has sent what gRPC's flow control lets through
    t0 = time.monotonic()
    stub.Start(pb.StartContainerRequest(reference=cid), timeout=15)  # type: ignore[attr-defined]
    started = time.monotonic() - t0
    out, code = _collect(call)
    elapsed = time.monotonic() - t0
    assert code == 0
    assert hashlib.sha256(out).digest() == hashlib.sha256(data).digest()
    print(f"start {started * 1000:.0f} ms; 8 MB round trip {8 / elapsed:.1f} MB/s")
    assert started < 5


@needs_root
@pytest.mark.root
def test_binary_stdin_without_tty_is_data(stub: object) -> None:
    data = _payload(3 * MB, seed=2)
    cid = _create(stub, ["md5sum"], open_stdin=True, stdin_once=True, attach_stdin=True)
    call = stub.Attach(
        _stdin(
            cid,
            [
                data[i : i + 100_000]  # type: ignore[attr-defined]
                for i in range(0, len(data), 100_000)
            ],
        )
    )
    time.sleep(0.2)
    stub.Start(pb.StartContainerRequest(reference=cid), timeout=15)  # type: ignore[attr-defined]
    out, code = _collect(call)
    assert code == 0
    assert out.split()[0].decode() == hashlib.md5(data).hexdigest()


@needs_root
@pytest.mark.root
def test_paused_reader_bounds_memory_and_the_service_answers(stub: object) -> None:
    cid = _create(stub, ["sh", "-c", "head -c 300000000 /dev/zero"])
    before = _rss_kib()
    call = stub.Attach(
        iter(
            [
                pb.AttachRequest(  # type: ignore[attr-defined]
                    reference=cid, stdout=True, stderr=True, stream=True
                )
            ]
        )
    )
    time.sleep(0.2)
    stub.Start(pb.StartContainerRequest(reference=cid), timeout=15)  # type: ignore[attr-defined]
    got = len(next(call).data)
    peak = before
    for _ in range(6):  # the reader pauses 3 s; the container could write GBs
        time.sleep(0.5)
        peak = max(peak, _rss_kib())
        t0 = time.monotonic()
        stub.List(pb.ListContainersRequest(all=True), timeout=5)  # type: ignore[attr-defined]
        assert time.monotonic() - t0 < 3
    t0 = time.monotonic()
    code = None
    for chunk in call:
        got += len(chunk.data)
        if chunk.exited:
            code = chunk.exit_code
    elapsed = time.monotonic() - t0
    assert code == 0 and got == 300 * MB
    print(f"rss +{(peak - before) // 1024} MiB while paused; drain {got / MB / elapsed:.0f} MB/s")
    assert peak - before < 64 * 1024


@needs_root
@pytest.mark.root
def test_leaving_clients_release_socket_and_threads(stub: object) -> None:
    """A client that leaves a silent TTY container: the session's reader
    must wake up and close the attach socket (closing it under a reader
    blocked in recv() leaves the thread, and a ghost client in conmon)."""
    cid = _create(stub, ["sh"], open_stdin=True, tty=True)
    stub.Start(pb.StartContainerRequest(reference=cid))  # type: ignore[attr-defined]
    # Warm up (gRPC's own fds), then measure.
    for _ in range(2):
        hold = threading.Event()
        call = stub.Attach(
            _stdin(
                cid,
                [b"echo warm\n"],
                close=False,  # type: ignore[attr-defined]
                hold=hold,
            )
        )
        for chunk in call:
            if b"warm" in chunk.data:
                break
        call.cancel()
        hold.set()
    base_fds = _settle(_io_fds, 0, timeout=1)
    base_threads = _settle(lambda: _threads("attach-"), 0, timeout=3)
    for i in range(5):
        hold = threading.Event()
        call = stub.Attach(
            _stdin(
                cid,
                [f"echo n{i}\n".encode()],
                close=False,  # type: ignore
                hold=hold,
            )
        )
        for chunk in call:
            if f"n{i}".encode() in chunk.data:
                break
        call.cancel()
        hold.set()
    assert _settle(lambda: _threads("attach-"), base_threads) == base_threads
    assert _settle(_io_fds, base_fds) <= base_fds
    # The container still runs and takes a new client.
    call = stub.Attach(_stdin(cid, [b"exit 7\n"], close=False))  # type: ignore[attr-defined]
    _, code = _collect(call)
    assert code == 7


@needs_root
@pytest.mark.root
def test_parallel_tty_attach_and_exec_stress(stack: PeerStack, stub: object) -> None:
    """30 `docker run -it` / `docker exec -it` like sessions at once; then
    the service answers and holds no more fds or attach threads."""
    host = _create(stub, ["sleep", "300"])
    stub.Start(pb.StartContainerRequest(reference=host))  # type: ignore[attr-defined]

    def run_it(i: int) -> None:
        cid = _create(stub, ["sh"], open_stdin=True, stdin_once=True, tty=True, attach_stdin=True)
        hold = threading.Event()
        call = stub.Attach(
            _stdin(
                cid,
                [
                    f"echo it-{i}\n".encode(),  # type: ignore
                    f"exit {i % 7}\n".encode(),
                ],
                close=False,
                hold=hold,
            )
        )
        time.sleep(0.05)
        try:
            stub.Start(pb.StartContainerRequest(reference=cid), timeout=30)  # type: ignore
            try:
                stub.Resize(
                    pb.ResizeRequest(
                        reference=cid,  # type: ignore[attr-defined]
                        size=pb.TerminalSize(height=30, width=90),
                    )
                )
            except grpc.RpcError:
                pass  # it may have exited already
            out, code = _collect(call)
        finally:
            hold.set()
        assert code == i % 7 and f"it-{i}".encode() in out
        stub.Remove(pb.RemoveContainerRequest(reference=cid))  # type: ignore[attr-defined]

    def exec_it(i: int) -> None:
        eid = stub.CreateExec(
            pb.CreateExecRequest(  # type: ignore[attr-defined]
                reference=host, cmd=["sh"], tty=True, attach_stdin=True, attach_stdout=True
            )
        ).id

        hold = threading.Event()

        def reqs() -> Iterator[pb.StartExecRequest]:
            yield pb.StartExecRequest(
                exec_id=eid, tty=True, resize=pb.TerminalSize(height=20, width=70)
            )
            yield pb.StartExecRequest(stdin_data=f"echo ex-{i}; exit 3\n".encode())
            hold.wait(60)

        out = bytearray()
        code = None
        try:
            for chunk in stub.StartExec(reqs()):  # type: ignore[attr-defined]
                out += chunk.data
                if chunk.exited:
                    code = chunk.exit_code
        finally:
            hold.set()
        assert code == 3 and f"ex-{i}".encode() in out

    def one(i: int) -> None:
        (run_it if i % 2 == 0 else exec_it)(i)

    with ThreadPoolExecutor(max_workers=4) as pool:  # warm-up
        list(pool.map(one, range(4)))
    base_fds = _settle(_io_fds, 0, timeout=1)
    table = _fd_table()
    base_threads = _threads("attach-")
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(one, range(30)))
    print(f"30 parallel TTY sessions: {time.monotonic() - t0:.1f}s")
    assert stub.List(pb.ListContainersRequest(all=True), timeout=5)  # type: ignore[attr-defined]
    assert _settle(lambda: _threads("attach-"), base_threads) <= base_threads
    after = _settle(_io_fds, base_fds)
    new = {k: v for k, v in _fd_table().items() if table.get(k) != v}
    assert after <= base_fds, f"fds {base_fds} → {after}: {new}"
    stub.Kill(pb.KillContainerRequest(reference=host))  # type: ignore[attr-defined]


@needs_root
@pytest.mark.root
def test_stalled_client_does_not_hold_a_dead_container(stub: object) -> None:
    """Back-pressure holds conmon while a client is slow; conmon reports
    the exit only once the output is written. A client that stops reading
    for good must not keep a killed container running forever."""
    cid = _create(stub, ["sh", "-c", "head -c 300000000 /dev/zero; sleep 300"])
    call = stub.Attach(
        iter(
            [
                pb.AttachRequest(  # type: ignore[attr-defined]
                    reference=cid, stdout=True, stderr=True, stream=True
                )
            ]
        )
    )
    time.sleep(0.2)
    stub.Start(pb.StartContainerRequest(reference=cid), timeout=15)  # type: ignore[attr-defined]
    next(call)  # then never read again
    time.sleep(1)
    t0 = time.monotonic()
    fut = stub.Wait.future(
        pb.WaitContainerRequest(  # type: ignore[attr-defined]
            reference=cid, condition="next-exit"
        )
    )
    stub.Kill(pb.KillContainerRequest(reference=cid), timeout=30)  # type: ignore[attr-defined]
    assert fut.result(timeout=30).status_code == 137
    print(f"exit noticed {time.monotonic() - t0:.1f}s after the kill")
    call.cancel()
