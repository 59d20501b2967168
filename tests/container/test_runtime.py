"""The runtime layer (conmon + runc) on a busybox rootfs: exit codes, logs,
attach with stdin EOF, TTY, kill."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangu_container import attach, exits, logs, ocispec, runtime
from hangu_container import model as cm
from hangu_container.lognotify import LogNotifier
from hangu_runtime.ids import new_id

from .conftest import needs_root

pytestmark = [pytest.mark.root, needs_root]


class Exits:
    def __init__(self, rt: runtime.Runtime) -> None:
        self.codes: dict[str, int] = {}
        self.cond = threading.Condition()
        self.watcher = exits.ExitWatcher(rt.paths.exit_dir, self._on_exit)
        self.watcher.start()

    def _on_exit(self, cid: str, code: int) -> None:
        with self.cond:
            self.codes[cid] = code
            self.cond.notify_all()

    def wait(self, cid: str, timeout: float = 20) -> int:
        with self.cond:
            assert self.cond.wait_for(lambda: cid in self.codes, timeout), "no exit"
            return self.codes[cid]


@pytest.fixture(scope="module")
def watcher(rt: runtime.Runtime) -> Iterator[Exits]:
    e = Exits(rt)
    yield e
    e.watcher.stop()


def _create(
    rt: runtime.Runtime,
    rootfs: Path,
    parent: str,
    cmd: list[str],
    tty: bool = False,
    stdin: bool = False,
) -> str:
    cid = new_id()
    cfg = cm.ContainerConfig(cmd=cmd, tty=tty, open_stdin=stdin)
    spec = ocispec.build_spec(
        ocispec.SpecInput(cid, cfg, cm.HostConfig(), rootfs, cgroup_parent=parent)
    )
    rt.create(cid, "t", spec, runtime.IOOptions(tty=tty, stdin=stdin))
    return cid


def _read_all(conn: attach.AttachConnection) -> dict[int, bytes]:
    out: dict[int, bytes] = {attach.STDOUT: b"", attach.STDERR: b""}
    while (msg := conn.recv()) is not None:
        out[msg[0]] = out.get(msg[0], b"") + msg[1]
    return out


def test_exit_code_and_logs(
    rt: runtime.Runtime, busybox_rootfs: Path, cgroup_parent: str, watcher: Exits
) -> None:
    cid = _create(
        rt,
        busybox_rootfs,
        cgroup_parent,
        ["sh", "-c", "echo out; echo err >&2; printf partial; exit 3"],
    )
    rt.start(cid)
    assert watcher.wait(cid) == 3
    entries = list(logs.read_entries(rt.paths.log_path(cid)))
    assert [(e.stream, e.data) for e in entries] == [
        ("stdout", b"out\n"),
        ("stderr", b"err\n"),
        ("stdout", b"partial"),
    ]
    only_err = logs.select(rt.paths.log_path(cid), logs.LogQuery(stdout=False))
    assert [e.data for e in only_err] == [b"err\n"]
    assert [e.data for e in logs.select(rt.paths.log_path(cid), logs.LogQuery(tail=1))] == [
        b"partial"
    ]
    rt.cleanup(cid)
    assert not rt.paths.bundle(cid).exists()
    assert rt.state(cid) is None


def test_attach_before_start_gets_everything_and_stdin_eof(
    rt: runtime.Runtime, busybox_rootfs: Path, cgroup_parent: str, watcher: Exits
) -> None:
    cid = _create(
        rt,
        busybox_rootfs,
        cgroup_parent,
        ["sh", "-c", "echo early; cat; echo done >&2"],
        stdin=True,
    )
    conn = attach.AttachConnection(rt.paths.attach_socket(cid))
    rt.start(cid)
    conn.send(b"data\n")
    conn.close_stdin()
    out = _read_all(conn)
    conn.close()
    assert out[attach.STDOUT] == b"early\ndata\n"
    assert out[attach.STDERR] == b"done\n"
    assert watcher.wait(cid) == 0
    rt.cleanup(cid)


def test_tty_and_resize(
    rt: runtime.Runtime, busybox_rootfs: Path, cgroup_parent: str, watcher: Exits
) -> None:
    cid = _create(rt, busybox_rootfs, cgroup_parent, ["sh"], tty=True, stdin=True)
    conn = attach.AttachConnection(rt.paths.attach_socket(cid))
    rt.start(cid)
    rt.resize(cid, 33, 101)
    time.sleep(0.1)
    conn.send(b"stty size; tty; exit 7\n")
    out = _read_all(conn)
    conn.close()
    assert watcher.wait(cid) == 7
    text = out[attach.STDOUT]
    assert b"33 101" in text and b"/dev/pts/0" in text and b"\r\n" in text
    assert out[attach.STDERR] == b""
    rt.cleanup(cid)


def test_kill_and_follow(
    rt: runtime.Runtime, busybox_rootfs: Path, cgroup_parent: str, watcher: Exits
) -> None:
    cid = _create(rt, busybox_rootfs, cgroup_parent, ["sh", "-c", "echo up; exec sleep 300"])
    rt.start(cid)
    state = rt.state(cid)
    assert state and state["status"] == "running"
    got: list[bytes] = []
    done = threading.Event()

    notifier = LogNotifier()
    sub = notifier.subscribe(rt.paths.log_path(cid).parent)

    def reader() -> None:
        for e in logs.follow(
            rt.paths.log_path(cid), logs.LogQuery(), lambda: rt.read_exit(cid) is None, sub
        ):
            got.append(e.data)
        done.set()

    t = threading.Thread(target=reader)
    t.start()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    assert got == [b"up\n"]
    rt.kill(cid, signal.SIGKILL)
    assert watcher.wait(cid) == 137
    sub.wake()  # what the lifecycle's exit hook does
    assert done.wait(5)
    t.join()
    sub.close()
    notifier.close()
    rt.cleanup(cid)


def test_create_failure_is_reported(
    rt: runtime.Runtime, busybox_rootfs: Path, cgroup_parent: str
) -> None:
    with pytest.raises(Exception, match="nosuchbinary"):
        cid = _create(rt, busybox_rootfs, cgroup_parent, ["/nosuchbinary"])
        rt.start(cid)
