"""The OCI runtime layer: runc through conmon.

`Runtime.create` writes the bundle, launches conmon (which double-forks
away from us, so the container outlives this service) and waits on the sync
pipe for the container's pid once `runc create` is done. `start` runs `runc
start`. Exits are noticed by `ExitWatcher` (exits.py) on conmon's exit dir.

Per container, in the bundle dir (run dir, tmpfs): config.json, pidfile,
conmon.pid, conmon's attach socket, ctl and winsz fifos, and (as the
persist dir) conmon's `exit` and `oom` files. The log file lives in the data
dir so it survives reboots, as Docker's does."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal as _signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hangu_runtime import logging as hlog
from hangu_runtime.config import search_path
from hangu_runtime.errors import Conflict, Internal

from . import fds, starterrors

log = hlog.get_logger("hangu.container.runtime")


@dataclass(frozen=True)
class RuntimePaths:
    run: Path  # the service's run dir
    data: Path  # the service's data dir

    @property
    def runc_root(self) -> Path:
        return self.run / "runc"

    @property
    def exit_dir(self) -> Path:
        return self.run / "exits"

    @property
    def socket_dir(self) -> Path:
        return self.run / "sockets"

    def bundle(self, cid: str) -> Path:
        return self.run / "bundles" / cid

    def log_path(self, cid: str) -> Path:
        return self.data / "containers" / cid / "ctr.log"

    def attach_socket(self, cid: str) -> Path:
        return self.bundle(cid) / "attach"

    def exit_file(self, cid: str) -> Path:
        return self.exit_dir / cid

    def ensure(self) -> None:
        for d in (self.runc_root, self.exit_dir, self.socket_dir, self.run / "bundles"):
            d.mkdir(parents=True, exist_ok=True)


class CreateFailed(Internal):
    """`runc create` refused the container (dockerd reads the message for
    the exit code: starterrors.classify)."""


class InitMissing(Internal):
    """No init binary for `--init` on the host (dockerd: a system error)."""


# The host binary bind-mounted as a container's /sbin/docker-init, first
# found on PATH unless configured: Debian's tini, static first (a
# container may have no libc), then the name Debian's docker.io gives it.
INIT_CANDIDATES = ("tini-static", "docker-init", "tini")


def find_init(configured: str = "", path: str | None = None) -> str:
    """The absolute path of the init for `--init`; InitMissing if none."""
    names = (configured,) if configured else INIT_CANDIDATES
    for name in names:
        found = shutil.which(name, path=path if path is not None else search_path())
        if found:
            return os.path.abspath(found)
    wanted = configured or "docker-init"
    raise InitMissing(
        f'exec: "{wanted}": executable file not found in $PATH'
        + (
            ""
            if configured
            else " (--init runs Debian's tini: install the tini package, or set HANGU_INIT_PATH)"
        )
    )


@dataclass(frozen=True)
class Created:
    pid: int
    conmon_pid: int


@dataclass(frozen=True)
class IOOptions:
    tty: bool = False
    stdin: bool = False
    leave_stdin_open: bool = False
    log_size_max: int = 0


class Runtime:
    def __init__(
        self,
        paths: RuntimePaths,
        runc: str = "runc",
        conmon: str = "conmon",
        init: str = "",
    ) -> None:
        self.paths = paths
        self.runc = shutil.which(runc) or runc
        self.conmon = shutil.which(conmon) or conmon
        self.init = init
        paths.ensure()

    def init_binary(self) -> str:
        """The host's init for `--init` (looked up at each use, so that
        installing tini needs no restart)."""
        return find_init(self.init)

    # ------------------------------------------------------------ runc

    def _runc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [self.runc, "--root", str(self.paths.runc_root), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise Internal(f"runc {args[0]}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def state(self, cid: str) -> dict[str, Any] | None:
        proc = self._runc("state", cid, check=False)
        if proc.returncode != 0:
            return None
        data: dict[str, Any] = json.loads(proc.stdout)
        return data

    def start(self, cid: str) -> None:
        self._runc("start", cid)

    def kill(self, cid: str, signum: int, all_processes: bool = False) -> None:
        args = ["kill", *(["--all"] if all_processes else []), cid, str(signum)]
        proc = self._runc(*args, check=False)
        if proc.returncode != 0:
            msg = proc.stderr.strip()
            if "not running" in msg or "does not exist" in msg or "process already finished" in msg:
                raise Conflict(f"Container {cid} is not running")
            raise Internal(f"runc kill: {msg}")

    def update(self, cid: str, resources: dict[str, Any]) -> None:
        """`runc update` with an OCI LinuxResources document."""
        proc = subprocess.run(
            [self.runc, "--root", str(self.paths.runc_root), "update", "-r", "-", cid],
            input=json.dumps(resources),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise Internal(f"runc update: {proc.stderr.strip()}")

    def pause(self, cid: str) -> None:
        self._runc("pause", cid)

    def resume(self, cid: str) -> None:
        self._runc("resume", cid)

    def delete(self, cid: str) -> None:
        """Forget the container in runc (state dir, cgroups); idempotent."""
        if not (self.paths.runc_root / cid).exists():
            return  # runc knows nothing of it: spare the exec
        proc = self._runc("delete", "--force", cid, check=False)
        if proc.returncode != 0 and "does not exist" not in proc.stderr:
            log.warning("runc_delete_failed", id=cid, stderr=proc.stderr.strip())

    # ------------------------------------------------------------ conmon

    def create(self, cid: str, name: str, spec: dict[str, Any] | str, io: IOOptions) -> Created:
        """Bundle + conmon + `runc create`. Returns once the container
        process exists (created, not started)."""
        bundle = self.paths.bundle(cid)
        if bundle.exists():
            shutil.rmtree(bundle, ignore_errors=True)
        bundle.mkdir(parents=True)
        body = spec if isinstance(spec, str) else json.dumps(spec)
        (bundle / "config.json").write_text(body)
        log_path = self.paths.log_path(cid)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.paths.exit_file(cid).unlink()
        args = [
            self.conmon,
            "--api-version",
            "1",
            "-c",
            cid,
            "-u",
            cid,
            "-r",
            self.runc,
            "-b",
            str(bundle),
            "-p",
            str(bundle / "pidfile"),
            "-P",
            str(bundle / "conmon.pid"),
            "-n",
            name or cid,
            "--exit-dir",
            str(self.paths.exit_dir),
            "--persist-dir",
            str(bundle),
            "-l",
            f"k8s-file:{log_path}",
            "--socket-dir-path",
            str(self.paths.socket_dir),
            "--full-attach",
            "--runtime-arg",
            f"--root={self.paths.runc_root}",
            # The log is written with write(2); a sync() of the whole
            # filesystem on every exit costs more than it protects.
            "--no-sync-log",
            "--log-level",
            "error",
        ]
        if io.tty:
            args.append("-t")
        if io.stdin:
            args.append("-i")
            if io.leave_stdin_open:
                args.append("--leave-stdin-open")
        if io.log_size_max > 0:
            args += ["--log-size-max", str(io.log_size_max)]
        # One owner per pipe end (fds.Fd): ours is closed once, on every
        # path; conmon's is closed as soon as conmon has it, so that a
        # conmon that dies shows up as EOF.
        sync_r, sync_w = fds.pipe()
        t0 = time.monotonic()
        try:
            env = {
                "PATH": search_path(),
                "_OCI_SYNCPIPE": str(sync_w.fileno()),
            }
            try:
                with open(bundle / "conmon.err", "wb") as err:
                    proc = subprocess.Popen(
                        args,
                        env=env,
                        pass_fds=(sync_w.fileno(),),
                        stdin=subprocess.DEVNULL,
                        stdout=err,
                        stderr=err,
                        start_new_session=True,
                    )
            finally:
                sync_w.close()
            # The first conmon process exits as soon as it has forked the
            # daemon one (and written conmon.pid).
            rc = proc.wait()
            if rc != 0:
                raise Internal(f"conmon failed ({rc}): {self._conmon_err(bundle)}")
            reply = self._read_sync(sync_r)
        finally:
            sync_r.close()
        pid = int(reply.get("data", -1))
        if pid <= 0:
            msg = str(reply.get("message") or self._conmon_err(bundle) or "conmon exited")
            self.delete(cid)
            raise CreateFailed(starterrors.create_failed(msg))
        conmon_pid = int((bundle / "conmon.pid").read_text().strip() or 0)
        log.debug(
            "conmon_created",
            id=cid,
            pid=pid,
            conmon_pid=conmon_pid,
            ms=round((time.monotonic() - t0) * 1000, 2),
        )
        return Created(pid=pid, conmon_pid=conmon_pid)

    @staticmethod
    def _conmon_err(bundle: Path) -> str:
        try:
            return (bundle / "conmon.err").read_text(errors="replace").strip()
        except OSError:
            return ""

    @staticmethod
    def _read_sync(fd: fds.Fd) -> dict[str, Any]:
        buf = b""
        while b"\n" not in buf:
            chunk = fd.read(65536)
            if not chunk:
                break
            buf += chunk
        line = buf.split(b"\n", 1)[0].strip()
        if not line:
            return {}
        data: dict[str, Any] = json.loads(line)
        return data

    def resize(self, cid: str, height: int, width: int) -> None:
        """conmon's ctl fifo: "<type> <height> <width>\\n", type 1 = resize."""
        ctl = self.paths.bundle(cid) / "ctl"
        fd = os.open(ctl, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.write(fd, f"1 {height} {width}\n".encode())
        finally:
            os.close(fd)

    def read_exit(self, cid: str) -> int | None:
        """The exit code conmon recorded, or None if the container has not exited."""
        for path in (self.paths.exit_file(cid), self.paths.bundle(cid) / "exit"):
            try:
                text = path.read_text().strip()
            except OSError:
                continue
            if text:
                return int(text)
        return None

    def oom_killed(self, cid: str) -> bool:
        return (self.paths.bundle(cid) / "oom").exists()

    def cleanup(self, cid: str) -> None:
        """After an exit: forget the container in runc, drop the bundle
        and the exit file."""
        self.delete(cid)
        shutil.rmtree(self.paths.bundle(cid), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.paths.exit_file(cid).unlink()

    @staticmethod
    def conmon_alive(conmon_pid: int, cid: str) -> bool:
        """Is `conmon_pid` still our conmon for `cid` (not a recycled pid)?"""
        if conmon_pid <= 0:
            return False
        try:
            cmdline = Path(f"/proc/{conmon_pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"conmon" in cmdline and cid.encode() in cmdline

    def kill_conmon(self, conmon_pid: int, cid: str) -> None:
        if self.conmon_alive(conmon_pid, cid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(conmon_pid, _signal.SIGKILL)


def remove_cgroup_parent(parent: str, root: Path = Path("/sys/fs/cgroup")) -> None:
    """rmdir the (empty) parent cgroup in every hierarchy; used when purging."""
    rel = parent.strip("/")
    if not rel or not root.is_dir():
        return
    for hierarchy in root.iterdir():
        target = hierarchy / rel
        with contextlib.suppress(OSError):
            target.rmdir()
