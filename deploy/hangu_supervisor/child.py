"""One supervised process: spawn, readiness, stop (SIGTERM, then SIGKILL).

Signals go to the service's pid only, never to its process group: the
container service's conmon shims must outlive it (systemd's
KillMode=process does the same)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from hangu_runtime.config import Settings

from . import state
from .services import ServiceSpec

# Exits that on-failure does not restart (as systemd counts them clean).
CLEAN_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE}


class ServiceFailed(Exception):
    def __init__(self, name: str, reason: str, log_tail: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason
        self.log_tail = log_tail

    def report(self) -> str:
        text = f"hangu-{self.name} failed: {self.reason}"
        if self.log_tail:
            text += f"\n--- last lines of its log ---\n{self.log_tail}"
        return text


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def is_clean_exit(returncode: int) -> bool:
    if returncode == 0:
        return True
    if returncode < 0:
        try:
            return signal.Signals(-returncode) in CLEAN_SIGNALS
        except ValueError:
            return False
    return False


class Child:
    def __init__(
        self, spec: ServiceSpec, settings: Settings, paths: state.Paths, env: dict[str, str]
    ) -> None:
        self.spec = spec
        self.settings = settings
        self.paths = paths
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.state = "stopped"
        self.restarts = 0
        self.started_at = 0.0
        self.last_exit = ""
        # Set once the service answered; the restart policy applies then.
        self.ready = False
        # Set while the supervisor itself stops the process (no restart then).
        self.stopping = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc and self.proc.returncode is None else None

    @property
    def log_path(self) -> Path:
        return self.paths.log(self.name)

    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def spawn(self) -> None:
        self.stopping = False
        self.ready = False
        self.state = "starting"
        with open(self.log_path, "ab", buffering=0) as log:
            log.write(f"--- hangu-supervisor: starting {self.spec.module} ---\n".encode())
            # Own session: a signal meant for the supervisor's group (a
            # terminal's ^C) never reaches a service.
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.spec.module,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                start_new_session=True,
            )
        self.started_at = time.time()
        state.write_pid(self.paths.pidfile(self.name), self.proc.pid)

    async def wait_ready(self, timeout: float) -> None:
        """Return once the service answers; raise ServiceFailed if it dies
        or stays silent for `timeout` seconds."""
        assert self.proc is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.02
        while True:
            if self.proc.returncode is not None:
                self.state = "failed"
                raise ServiceFailed(
                    self.name, describe_exit(self.proc.returncode), state.tail(self.log_path)
                )
            if await asyncio.to_thread(self.spec.ready, self.settings):
                self.state = "running"
                return
            if loop.time() > deadline:
                self.state = "failed"
                raise ServiceFailed(
                    self.name, f"not ready after {timeout:.0f}s", state.tail(self.log_path)
                )
            # Short sleeps at first: most services answer within ~0.5 s.
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)

    async def stop(self, timeout: float) -> None:
        self.stopping = True
        self.ready = False
        proc = self.proc
        if proc is not None and proc.returncode is None:
            self.state = "stopping"
            try:
                proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), timeout)
            except ProcessLookupError:
                pass
            except TimeoutError:
                with open(self.log_path, "ab") as log:
                    log.write(
                        f"--- hangu-supervisor: no exit {timeout:.0f}s after "
                        "SIGTERM, sending SIGKILL ---\n".encode()
                    )
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if proc is not None and proc.returncode is not None:
            self.last_exit = describe_exit(proc.returncode)
        self.state = "stopped"
        state.remove(self.paths.pidfile(self.name))

    def status(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "uptime": round(time.time() - self.started_at, 1) if self.running() else 0,
            "last_exit": self.last_exit,
        }


def kill_orphan(paths: state.Paths, spec: ServiceSpec, timeout: float) -> bool:
    """Stop a service left running by a supervisor that died (its pid file
    remains). Synchronous: used outside the supervisor loop too."""
    pidfile = paths.pidfile(spec.name)
    pid = state.read_pid(pidfile)
    if pid is None or not state.alive(pid, spec.module):
        state.remove(pidfile)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while state.alive(pid, spec.module) and time.monotonic() < deadline:
        time.sleep(0.05)
    if state.alive(pid, spec.module):
        os.kill(pid, signal.SIGKILL)
        while state.alive(pid, spec.module):
            time.sleep(0.02)
    state.remove(pidfile)
    return True
