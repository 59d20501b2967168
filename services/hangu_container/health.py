"""Health checks (HEALTHCHECK / --health-*), run as dockerd runs them: one
monitor thread per running container probes it with an exec of the test
command after each interval (the start interval during the start period);
the rules of a result are in `healthcheck.py`.

State.Health lives in the container's record (saved after each probe), so
it survives a restart of the service: containers found running at start-up
keep their status, streak and log, and their monitor goes on. A start sets
"starting" and a zero streak (the log is kept); an exit or a pause ends the
monitor and sets "unhealthy" (dockerd's CloseMonitorChannel); an unpause
starts it again."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from datetime import UTC, datetime

from hangu_runtime import logging as hlog
from hangu_runtime.errors import HanguError

from . import healthcheck
from .execs import Execs
from .healthcheck import NS, Output
from .lifecycle import Lifecycle
from .model import ExecConfig, Health, Healthcheck, HealthResult
from .registry import Live
from .sessions import AttachSession

log = hlog.get_logger("hangu.container.health")


def _now() -> datetime:
    return datetime.now(UTC)


def _probe_of(live: Live) -> tuple[Healthcheck, list[str]] | None:
    check = live.ctr.config.healthcheck
    if check is None:
        return None
    args = healthcheck.probe_args(list(check.test), live.ctr.config.shell or None)
    return None if args is None else (check, args)


class HealthChecks:
    def __init__(self, lifecycle: Lifecycle, execs: Execs) -> None:
        self.lc = lifecycle
        self.execs = execs
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        lifecycle.start_hooks.append(self.started)
        lifecycle.exit_hooks.append(self.stopped)
        lifecycle.pause_hooks.append(self.paused)
        lifecycle.shutdown_hooks.append(self.close)
        # Containers found running at start-up keep their health and checks.
        for live in lifecycle.registry.all():
            if live.ctr.state.status == "running":
                self._monitor(live, reset=live.ctr.state.health is None)

    # ------------------------------------------------------------ hooks

    def started(self, live: Live) -> None:
        self._monitor(live, reset=True)

    def stopped(self, cid: str) -> None:
        live = self.lc.registry.get(cid)
        if self._end(cid) and live is not None:
            self._unhealthy(live)

    def paused(self, live: Live, paused: bool) -> None:
        if not paused:
            self._monitor(live, reset=False)
        elif self._end(live.id):
            self._unhealthy(live)

    def close(self) -> None:
        with self._lock:
            stops, self._stops = list(self._stops.values()), {}
        for stop in stops:
            stop.set()

    # ------------------------------------------------------------ monitor

    def _monitor(self, live: Live, reset: bool) -> None:
        """Start checking `live` (a start: status "starting", streak 0)."""
        probe = _probe_of(live)
        if probe is None:
            return
        stop = threading.Event()
        with self._lock:
            old = self._stops.pop(live.id, None)
            if old is not None:
                old.set()
            self._stops[live.id] = stop
        with live.lock:
            health = live.ctr.state.health
            if health is None:
                health = live.ctr.state.health = Health(status="starting")
            if reset:
                health.status, health.failing_streak = "starting", 0
            self.lc.registry.save(live)
        threading.Thread(
            target=self._run, args=(live, *probe, stop), name="health", daemon=True
        ).start()

    def _end(self, cid: str) -> bool:
        with self._lock:
            stop = self._stops.pop(cid, None)
        if stop is None:
            return False
        stop.set()
        return True

    def _unhealthy(self, live: Live) -> None:
        with live.lock:
            if live.ctr.state.health is not None and not live.removed:
                live.ctr.state.health.status = "unhealthy"  # as dockerd, once not checked
                self.lc.registry.save(live)

    def _run(self, live: Live, hc: Healthcheck, args: list[str], stop: threading.Event) -> None:
        while True:
            health = live.ctr.state.health
            if health is None:
                return
            wait = healthcheck.next_interval(
                hc, health.status, live.ctr.state.started_at, _now().timestamp()
            )
            # A timer, not a poll: the interval is what the user asked for.
            if stop.wait(wait) or live.removed:
                return
            start = _now()
            code, output = self._probe(live, hc, args)
            result = HealthResult(start, _now(), code, output)
            with live.lock:
                health = live.ctr.state.health
                if stop.is_set() or health is None:
                    return  # stopped or paused meanwhile: dockerd drops the result
                changed = healthcheck.record(health, result, hc, live.ctr.state.started_at)
                self.lc.registry.save(live)
            if changed:
                log.info("health_status", id=live.id, status=health.status)
                self.lc.emit(f"health_status: {health.status}", live)

    def _probe(self, live: Live, hc: Healthcheck, args: list[str]) -> tuple[int, str]:
        """One probe: (exit code, output); -1 and Docker's message when it
        takes longer than the timeout (it is killed) or cannot run."""
        timeout_ns = hc.timeout_ns or healthcheck.DEFAULT_TIMEOUT_NS
        session = AttachSession(False, True, True)
        try:
            record = self.execs.create(
                ExecConfig(container=live.id, cmd=args, attach_stdout=True, attach_stderr=True)
            )
        except HanguError as err:
            return -1, err.message
        # dockerd: "exec_create: " + entrypoint + " " + args (a trailing space without args)
        self.lc.emit(f"exec_create: {args[0]} {' '.join(args[1:])}", live, execID=record.id)
        out = Output()
        try:
            try:
                self.execs.start(record.id, False, None, session)
            except HanguError as err:
                return -1, err.message

            def drain() -> None:
                # Read while the probe runs: the session's output buffer is
                # bounded, and a full one would stall the probe's process.
                for kind, value in session.items():
                    if kind != "exit" and isinstance(value, bytes):
                        out.write(value)

            reader = threading.Thread(target=drain, name="health-out", daemon=True)
            reader.start()
            if not record.done.wait(timeout_ns / NS):
                if record.pid > 0:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(record.pid, signal.SIGKILL)
                record.done.wait(5)
                text = out.text()
                msg = f"Health check exceeded timeout ({healthcheck.go_duration(timeout_ns)})"
                return -1, f"{msg}: {text}" if text else msg
            reader.join(5)
            return (record.exit_code if record.exit_code is not None else -1), out.text()
        finally:
            session.close()
            self.execs.forget(record.id)
