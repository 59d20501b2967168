"""An exec's exit code, right after its container started and under
parallel load: every exec reports its real code, in the stream's last
message and in ExecInspect as soon as the stream has ended (`docker exec`
asks ExecInspect for its own exit status; a -1 there made it exit 255).

Regression: conmon writes the exec's pid and, at the end, its exit code as
two JSON lines on the sync pipe; a quick exec's two lines arrive in one
read, and a reader that kept only the first line found EOF next and
reported -1. Without that fix the first round here fails at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from hangu.container.v1 import container_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb

from .conftest import needs_root
from .stack import PeerStack

pytestmark = [pytest.mark.root, needs_root]

EXECS = 50


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
    for c in stub.List(pb.ListContainersRequest(all=True)).containers:
        stub.Remove(pb.RemoveContainerRequest(reference=c.id, force=True))


def _exec(stub: object, cid: str, i: int) -> None:
    """One exec of a kind chosen by `i`: plain, with stdin, with a TTY;
    quick ones that exit 0 and others, and one killed by a signal."""
    code = [0, 7, 1, 0, 3, 137][i % 6]
    tty = i % 5 == 4
    stdin = i % 5 == 2
    script = f"echo out-{i}; exit {code}" if code != 137 else f"echo out-{i}; kill -9 $$"
    cmd = ["sh", "-c", f"cat >/dev/null; {script}" if stdin else script]
    eid = stub.CreateExec(
        pb.CreateExecRequest(  # type: ignore[attr-defined]
            reference=cid,
            cmd=cmd,
            attach_stdin=stdin,
            attach_stdout=True,
            attach_stderr=True,
            tty=tty,
        )
    ).id
    hold = threading.Event()

    def requests() -> Iterator[pb.StartExecRequest]:
        yield pb.StartExecRequest(exec_id=eid, tty=tty)
        if stdin:
            yield pb.StartExecRequest(stdin_data=b"x" * 100)
            yield pb.StartExecRequest(close_stdin=True)
        hold.wait(60)  # the client keeps its side open, as the gateway does

    out = bytearray()
    exits = []
    try:
        for chunk in stub.StartExec(requests(), timeout=60):  # type: ignore[attr-defined]
            if chunk.exited:
                exits.append(chunk.exit_code)
            else:
                out += chunk.data
    finally:
        hold.set()
    # What the CLI does as soon as the stream ends.
    info = stub.GetExec(pb.GetExecRequest(exec_id=eid))  # type: ignore[attr-defined]
    assert f"out-{i}".encode() in out, (i, bytes(out))
    assert exits == [code], (i, cmd, exits)
    assert not info.running and info.HasField("exit_code") and info.exit_code == code, (i, info)
    assert info.pid > 0


def test_execs_right_after_start_report_their_exit_code(stub: object) -> None:
    for round_ in range(3):
        c = stub.Create(
            pb.CreateContainerRequest(  # type: ignore[attr-defined]
                config=pb.ContainerConfig(
                    image="busybox", cmd=tpb.StringList(values=["sleep", "300"])
                )
            )
        )
        stub.Start(pb.StartContainerRequest(reference=c.id))  # type: ignore[attr-defined]
        with ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(lambda i: _exec(stub, c.id, i), range(EXECS)))
        stub.Remove(
            pb.RemoveContainerRequest(  # type: ignore[attr-defined]
                reference=c.id, force=True
            )
        )


def test_detached_exec_exit_code(stub: object) -> None:
    """`docker exec -d`: no stream; ExecInspect shows the code once done."""
    c = stub.Create(
        pb.CreateContainerRequest(  # type: ignore[attr-defined]
            config=pb.ContainerConfig(image="busybox", cmd=tpb.StringList(values=["sleep", "300"]))
        )
    )
    stub.Start(pb.StartContainerRequest(reference=c.id))  # type: ignore[attr-defined]
    started = []
    for i in range(10):
        eid = stub.CreateExec(
            pb.CreateExecRequest(  # type: ignore[attr-defined]
                reference=c.id, cmd=["sh", "-c", f"exit {i}"]
            )
        ).id
        list(
            stub.StartExec(
                iter(
                    [
                        pb.StartExecRequest(  # type: ignore[attr-defined]
                            exec_id=eid, detach=True
                        )
                    ]
                )
            )
        )
        started.append((eid, i))
    for eid, i in started:
        deadline = time.monotonic() + 10
        while True:  # no stream to end: ask until it is done, as a client would
            info = stub.GetExec(pb.GetExecRequest(exec_id=eid))  # type: ignore
            if not info.running or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert not info.running and info.HasField("exit_code") and info.exit_code == i, (i, info)
