"""`docker exec`: an extra process in a running container, run by conmon in
exec mode (`runc exec` under a conmon of its own, with its own attach
socket and ctl fifo in a per-exec bundle dir).

Start order, so that no early output is lost: conmon is launched with
--exec-attach and _OCI_ATTACHPIPE/_OCI_STARTPIPE; once it reports its
attach socket ready we connect the client's session, then release it
through the start pipe to run `runc exec`. The sync pipe then carries the
exec's pid and, at the end, its exit code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hangu_runtime import logging as hlog
from hangu_runtime.config import search_path
from hangu_runtime.errors import Conflict, Internal, InvalidArgument, NotFound
from hangu_runtime.ids import new_id

from . import capabilities, fds, imageconfig, users
from .lifecycle import Lifecycle
from .model import ExecConfig
from .registry import Live
from .sessions import AttachSession, parse_detach_keys, pid_gone

log = hlog.get_logger("hangu.container.exec")


@dataclass
class ExecRecord:
    id: str
    container_id: str
    config: ExecConfig
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    bundle: Path = field(default_factory=Path)
    done: threading.Event = field(default_factory=threading.Event)
    detach_keys: bytes = b""


class Execs:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lc = lifecycle
        self.rt = lifecycle.rt
        self._by_id: dict[str, ExecRecord] = {}
        self._lock = threading.Lock()

    def create(self, req: ExecConfig) -> ExecRecord:
        live = self.lc.registry.lookup(req.container)
        if live.ctr.state.status == "paused":
            # dockerd names the container as the client did.
            raise Conflict(
                f"Container {req.container} is paused, unpause the container before exec"
            )
        if not live.running:
            raise Conflict(f"Container {live.id} is not running")
        if not req.cmd:
            raise InvalidArgument("No exec command specified")
        keys = b""
        if req.detach_keys:
            try:
                keys = parse_detach_keys(req.detach_keys)
            except ValueError:
                raise InvalidArgument(f"Invalid escape keys ({req.detach_keys}) provided") from None
        record = ExecRecord(id=new_id(), container_id=live.id, config=req, detach_keys=keys)
        with self._lock:
            self._by_id[record.id] = record
        return record

    def get(self, exec_id: str) -> ExecRecord:
        with self._lock:
            record = self._by_id.get(exec_id)
        if record is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return record

    def active(self, container_id: str) -> list[str]:
        """The container's execs that have not ended (created or running),
        oldest first: inspect's ExecIDs."""
        with self._lock:
            return [
                r.id
                for r in self._by_id.values()
                if r.container_id == container_id and not r.done.is_set()
            ]

    def session(self, exec_id: str, raw: bool) -> AttachSession:
        """A session for the exec's I/O (output streams as dockerd: both
        when stdin is not attached). `raw`: the client reads one unframed
        stream (the start's Tty); as with dockerd, stderr is then not
        attached unless the process has a terminal (where it is stdout).
        Detach keys apply only with a terminal."""
        r = self.get(exec_id)
        cfg = r.config
        return AttachSession(
            cfg.attach_stdin,
            cfg.attach_stdout or not cfg.attach_stdin,
            (cfg.attach_stderr or not cfg.attach_stdin) and (cfg.tty or not raw),
            r.detach_keys or parse_detach_keys(""),
            tty=cfg.tty,
        )

    def forget(self, exec_id: str) -> None:
        """Drop an internal exec (health checks) once it is done."""
        with self._lock:
            self._by_id.pop(exec_id, None)

    def _process(
        self, live: Live, req: ExecConfig, tty: bool, size: tuple[int, int] | None
    ) -> dict[str, Any]:
        spec = json.loads((self.rt.paths.bundle(live.id) / "config.json").read_text())
        proc: dict[str, Any] = dict(spec["process"])
        proc["args"] = list(req.cmd)
        proc["terminal"] = tty
        proc["env"] = imageconfig.merge_env(list(proc.get("env", [])), list(req.env))
        if tty and not any(e.startswith("TERM=") for e in req.env):
            proc["env"] = imageconfig.merge_env(proc["env"], ["TERM=xterm"])
        if req.working_dir:
            proc["cwd"] = req.working_dir
        if req.user:
            # The container's --group-add applies to an exec's user too.
            u = users.resolve_user(
                Path(spec["root"]["path"]), req.user, list(live.ctr.host_config.group_add)
            )
            proc["user"] = {"uid": u.uid, "gid": u.gid}
            if u.additional_gids:
                proc["user"]["additionalGids"] = u.additional_gids
        if req.privileged:
            caps = capabilities.effective_caps([], [], True)
            proc["capabilities"] = dict.fromkeys(("bounding", "effective", "permitted"), caps)
        proc.pop("consoleSize", None)
        if tty and size:
            proc["consoleSize"] = {"height": size[0], "width": size[1]}
        return proc

    def start(
        self, exec_id: str, raw: bool, size: tuple[int, int] | None, session: AttachSession | None
    ) -> ExecRecord:
        """Run the exec; with a session, its I/O is attached before the
        process starts. Returns once the process runs (its end is
        `record.done`). The process has a terminal only if the exec was
        created with one (`raw`, the start's Tty, shapes only the client's
        stream: see `session`). A start that fails ends the exec with
        dockerd's exit code 126, whatever the cause."""
        r = self.get(exec_id)
        with self._lock:
            if r.done.is_set():
                raise Conflict(f"Error: Exec command {exec_id} has already run")
            if r.started:
                raise Conflict(f"Error: Exec command {exec_id} is already running")
            r.started = True
        try:
            return self._launch(r, size, session)
        except BaseException:
            r.running = False
            if r.exit_code is None:
                r.exit_code = 126
            r.done.set()
            raise

    def _launch(
        self, r: ExecRecord, size: tuple[int, int] | None, session: AttachSession | None
    ) -> ExecRecord:
        live = self.lc.registry.lookup(r.container_id)
        if not live.running:
            raise Conflict(f"Container {live.id} is not running")
        tty = r.config.tty
        proc = self._process(live, r.config, tty, size)
        r.bundle = self.rt.paths.run / "exec" / r.id
        r.bundle.mkdir(parents=True, exist_ok=True)
        (r.bundle / "process.json").write_text(json.dumps(proc))
        args = [
            self.rt.conmon,
            "--api-version",
            "1",
            "-c",
            live.id,
            "-u",
            r.id,
            "-r",
            self.rt.runc,
            "-b",
            str(r.bundle),
            "-p",
            str(r.bundle / "pidfile"),
            "-e",
            "--exec-process-spec",
            str(r.bundle / "process.json"),
            "--exit-dir",
            str(r.bundle),
            "-l",
            "none",
            "--full-attach",
            "--socket-dir-path",
            str(self.rt.paths.socket_dir),
            "--runtime-arg",
            f"--root={self.rt.paths.runc_root}",
            "--log-level",
            "error",
            "--exec-attach",
        ]
        if tty:
            args.append("-t")
        if r.config.attach_stdin and session is not None:
            args.append("-i")
        # Each pipe end has one owner (fds.Fd, closed at most once). The
        # child's ends are closed as soon as conmon has them, so that a
        # conmon that dies shows up as EOF on ours.
        sync_r, sync_w = fds.pipe()
        start_r, start_w = fds.pipe()
        attach_r, attach_w = fds.pipe()
        started = None
        try:
            env = {
                "PATH": search_path(),
                "_OCI_SYNCPIPE": str(sync_w.fileno()),
                "_OCI_STARTPIPE": str(start_r.fileno()),
                "_OCI_ATTACHPIPE": str(attach_w.fileno()),
            }
            try:
                with open(r.bundle / "conmon.err", "wb") as err:
                    proc_handle = subprocess.Popen(
                        args,
                        env=env,
                        pass_fds=(sync_w.fileno(), start_r.fileno(), attach_w.fileno()),
                        stdin=subprocess.DEVNULL,
                        stdout=err,
                        stderr=err,
                        start_new_session=True,
                    )
            finally:
                for fd in (sync_w, start_r, attach_w):
                    fd.close()
            start_w.write(b"0")  # conmon: go on, set up the sockets
            rc = proc_handle.wait()
            if rc != 0:
                raise Internal(f"conmon exec failed ({rc})")
            ready = _Lines(attach_r).next()  # the attach socket exists
            if ready is None:
                raise Internal(f"conmon exec: {_err(r.bundle)}")
            if session is not None:
                session.connect(
                    r.bundle / "attach", lambda: self._wait_code(r), lambda: pid_gone(r.pid)
                )
            start_w.write(b"1")  # now run `runc exec`
            sync = _Lines(sync_r)
            started = sync.next()
        except BaseException:
            sync_r.close()
            raise
        finally:
            for fd in (start_w, attach_r):
                fd.close()
        pid = int((started or {}).get("data", -1))
        if pid <= 0:
            sync_r.close()
            msg = str((started or {}).get("message") or _err(r.bundle) or "exec failed")
            shutil.rmtree(r.bundle, ignore_errors=True)
            raise InvalidArgument(f"OCI runtime exec failed: {runc_message(msg)}: unknown")
        r.pid = pid
        r.running = True
        threading.Thread(target=self._reap, args=(r, sync), name="exec-wait", daemon=True).start()
        self.lc.emit("exec_start", live, execID=r.id)
        return r

    def _reap(self, r: ExecRecord, sync: _Lines) -> None:
        try:
            msg = sync.next()
        finally:
            sync.fd.close()
        r.exit_code = int((msg or {}).get("data", -1)) if msg else -1
        r.running = False
        r.done.set()
        shutil.rmtree(r.bundle, ignore_errors=True)
        live = self.lc.registry.get(r.container_id)
        if live is not None:
            self.lc.emit("exec_die", live, execID=r.id, exitCode=str(r.exit_code))

    @staticmethod
    def _wait_code(r: ExecRecord) -> int | None:
        r.done.wait()
        return r.exit_code

    def resize(self, exec_id: str, height: int, width: int) -> None:
        r = self.get(exec_id)
        if not r.running:
            raise Conflict(f"Exec {exec_id} is not running")
        fd = os.open(r.bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.write(fd, f"1 {height} {width}\n".encode())
        finally:
            os.close(fd)


class _Lines:
    """JSON lines from a pipe; one read may bring several (a quick exec's
    pid and exit code arrive together)."""

    def __init__(self, fd: fds.Fd) -> None:
        self.fd = fd
        self.buf = b""

    def next(self) -> dict[str, Any] | None:
        while b"\n" not in self.buf:
            chunk = self.fd.read(4096)
            if not chunk:
                break
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        if not line.strip():
            return None
        data: dict[str, Any] = json.loads(line)
        return data


# One line of runc's logrus output: time="..." level=error msg="..." (Go quoting).
_LOGRUS = re.compile(r'level=\w+ msg="((?:[^"\\]|\\.)*)"')


def runc_message(text: str) -> str:
    """What runc said, without its log line's decoration: the text dockerd
    shows after "OCI runtime exec failed: " (containerd passes runc's
    message on bare)."""
    found = _LOGRUS.findall(text)
    if not found:
        return text.strip()
    return re.sub(r"\\(.)", r"\1", found[-1]).strip()


def _err(bundle: Path) -> str:
    try:
        return (bundle / "conmon.err").read_text(errors="replace").strip()
    except OSError:
        return ""
