"""The supervisor loop: owns the five service processes, starts them in
order, restarts one that fails (like systemd's Restart=on-failure), answers
a small control protocol on <run>/supervisor.sock, and stops everything in
reverse order on SIGTERM or a `stop` request."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import deque
from typing import Any

from hangu_runtime.config import Settings

from . import state
from .child import Child, ServiceFailed, describe_exit, is_clean_exit
from .purge import PURGE_ENV, purge_pass
from .services import SERVICES, spec

RESTART_DELAY = 0.1
# Give up on a service that fails this often within the window
# (systemd's StartLimitBurst / StartLimitIntervalSec).
RESTART_BURST = 5
RESTART_WINDOW = 30.0
# Logs live in the run dir (a tmpfs under /run): each is rotated at
# settings.log_max_bytes, checked this often.
LOG_CHECK_SECONDS = 30.0


class Supervisor:
    def __init__(self, settings: Settings, env: dict[str, str]) -> None:
        self.settings = settings
        self.paths = state.Paths.of(settings)
        self.env = env
        self.children = {s.name: Child(s, settings, self.paths, env) for s in SERVICES}
        self.failures: dict[str, deque[float]] = {s.name: deque() for s in SERVICES}
        self.shutdown = asyncio.Event()
        self.stopped = asyncio.Event()
        self.purge_requested = False
        # Open for the supervisor's whole life; closed when it stops.
        self.log_file = open(self.paths.log("supervisor"), "a", buffering=1)  # noqa: SIM115
        self._lock = asyncio.Lock()
        self._watchers: set[asyncio.Task[None]] = set()

    def log(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.log_file.write(f"{stamp} {message}\n")

    # -- lifecycle -----------------------------------------------------------

    async def start_all(self) -> None:
        """Start every service that is not running, stage by stage, each
        stage answering before the next one starts."""
        async with self._lock:
            stages = sorted({c.spec.stage for c in self.children.values()})
            for stage in stages:
                todo = [
                    c for c in self.children.values() if c.spec.stage == stage and not c.running()
                ]
                results = await asyncio.gather(
                    *(self._start(c) for c in todo), return_exceptions=True
                )
                for result in results:
                    if isinstance(result, BaseException):
                        raise result

    async def _start(self, child: Child) -> None:
        self.log(f"starting {child.name}")
        await child.spawn()
        self._watch(child)
        try:
            await child.wait_ready(self.settings.start_timeout)
        except ServiceFailed:
            if child.running():
                await child.stop(self.settings.stop_timeout)
            raise
        child.ready = True
        self.log(f"{child.name} ready (pid {child.pid})")

    def _watch(self, child: Child) -> None:
        task = asyncio.create_task(self._on_exit(child, child.proc))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _on_exit(self, child: Child, proc: Any) -> None:
        code = await proc.wait()
        # A death while starting is reported by whoever started it; only a
        # service that was up is the restart policy's business.
        if child.proc is not proc or child.stopping or self.shutdown.is_set() or not child.ready:
            return
        child.ready = False
        child.last_exit = describe_exit(code)
        state.remove(self.paths.pidfile(child.name))
        self.log(f"{child.name} {child.last_exit}")
        if is_clean_exit(code):
            child.state = "exited"
            return
        await self._recover(child)

    async def _recover(self, child: Child) -> None:
        window = self.failures[child.name]
        while True:
            now = time.monotonic()
            window.append(now)
            while window and now - window[0] > RESTART_WINDOW:
                window.popleft()
            if len(window) > RESTART_BURST:
                child.state = "failed"
                self.log(
                    f"{child.name} failed {len(window)} times in "
                    f"{RESTART_WINDOW:.0f}s; not restarting it"
                )
                return
            child.state = "restarting"
            await asyncio.sleep(RESTART_DELAY)
            if self.shutdown.is_set() or child.stopping:
                return
            async with self._lock:
                if child.running():
                    return
                child.restarts += 1
                try:
                    await self._start(child)
                    return
                except ServiceFailed as err:
                    self.log(err.report())
                    child.stopping = False

    async def stop_all(self) -> None:
        async with self._lock:
            for child in reversed(list(self.children.values())):
                if child.running():
                    self.log(f"stopping {child.name}")
                    await child.stop(self.settings.stop_timeout)
                    self.log(f"{child.name} stopped ({child.last_exit})")
                child.stopping = True
                child.state = "stopped"
            # Sockets of stopped services would only make clients wait on
            # ECONNREFUSED; the services normally remove them themselves.
            for name in ("image", "container", "network", "volume"):
                state.remove(self.settings.grpc_socket(name))
            state.remove(self.settings.docker_socket)

    async def restart(self, name: str) -> None:
        child = self.children[spec(name).name]
        async with self._lock:
            if child.running():
                await child.stop(self.settings.stop_timeout)
            child.restarts += 1
            await self._start(child)

    async def stop_one(self, name: str) -> None:
        child = self.children[spec(name).name]
        async with self._lock:
            await child.stop(self.settings.stop_timeout)

    def status(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "root": str(self.settings.root),
            "run": str(self.settings.run),
            "purge_on_stop": self.env.get(PURGE_ENV) == "1",
            "services": [c.status() for c in self.children.values()],
        }

    async def rotate_logs(self) -> None:
        """Copy a log over its `.1` and truncate it once it is too big. The
        services write with O_APPEND, so after the truncation their next
        line lands at the start of the file (copytruncate, as logrotate)."""
        while True:
            await asyncio.sleep(LOG_CHECK_SECONDS)
            for name in [*self.children, "supervisor"]:
                await asyncio.to_thread(
                    state.rotate, self.paths.log(name), self.settings.log_max_bytes
                )

    # -- control socket ------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            request = json.loads(line or b"{}")
            reply = await self._dispatch(request)
        except ServiceFailed as err:
            reply = {"ok": False, "error": err.report()}
        except (KeyError, ValueError) as err:
            reply = {"ok": False, "error": str(err)}
        writer.write(json.dumps(reply).encode() + b"\n")
        try:
            await writer.drain()
        finally:
            writer.close()

    async def _dispatch(self, request: dict[str, Any]) -> dict[str, Any]:
        command = request.get("cmd")
        if command == "status":
            return {"ok": True, **self.status()}
        if command == "start":
            await self.start_all()
            return {"ok": True}
        if command == "restart":
            await self.restart(str(request["service"]))
            return {"ok": True}
        if command == "start-service":
            child = self.children[spec(str(request["service"])).name]
            async with self._lock:
                if not child.running():
                    await self._start(child)
            return {"ok": True}
        if command == "stop-service":
            await self.stop_one(str(request["service"]))
            return {"ok": True}
        if command == "stop":
            self.purge_requested = bool(request.get("purge"))
            self.shutdown.set()
            # Answer only once everything is down, so `stop` returns then.
            await self.stopped.wait()
            return {"ok": True}
        raise ValueError(f"unknown command {command!r}")

    # -- main ----------------------------------------------------------------

    async def run(self, notify_fd: int | None) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.shutdown.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        state.remove(self.paths.control)
        server = await asyncio.start_unix_server(self._handle, path=str(self.paths.control))
        os.chmod(self.paths.control, 0o600)
        self.log(f"supervisor {os.getpid()} up; root={self.settings.root} run={self.settings.run}")
        code = 0
        rotation = asyncio.create_task(self.rotate_logs())
        try:
            await self.start_all()
            _notify(notify_fd, "ready")
        except ServiceFailed as err:
            self.log(err.report())
            _notify(notify_fd, err.report())
            self.shutdown.set()
            code = 1
        await self.shutdown.wait()
        rotation.cancel()
        await self.stop_all()
        if self.purge_requested and self.env.get(PURGE_ENV) != "1":
            self.log("purge pass")
            await purge_pass(self.settings, self.env, self.log)
        self.log("supervisor stopped")
        self.stopped.set()
        # Let the `stop` caller read its answer before the socket goes.
        await asyncio.sleep(0.05)
        server.close()
        state.remove(self.paths.control)
        state.remove(self.paths.pidfile("supervisor"))
        return code


def _notify(fd: int | None, message: str) -> None:
    if fd is None:
        return
    try:
        os.write(fd, message.encode() + b"\n")
        os.close(fd)
    except OSError:
        pass
