"""Health checks (HEALTHCHECK / --health-*), as dockerd runs them: after
each interval an exec of the test command in the container; exit 0 is a
success; `retries` failures in a row make the container unhealthy (failures
in the start period do not count until a first success). The last five
results are kept, as in `docker inspect`'s State.Health.Log."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from datetime import UTC, datetime

from hangu_runtime import logging as hlog
from hangu_runtime.errors import HanguError

from .execs import Execs
from .lifecycle import Lifecycle
from .model import ExecConfig, Health, Healthcheck, HealthResult
from .registry import Live
from .sessions import AttachSession

log = hlog.get_logger("hangu.container.health")

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096
KEEP = 5


def probe_args(test: list[str]) -> list[str] | None:
    """The command of a Healthcheck.Test, or None when checks are off."""
    if not test or test[0] == "NONE":
        return None
    if test[0] == "CMD":
        return list(test[1:]) or None
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return list(test)


def _now() -> datetime:
    return datetime.now(UTC)


class HealthChecks:
    def __init__(self, lifecycle: Lifecycle, execs: Execs) -> None:
        self.lc = lifecycle
        self.execs = execs
        self._stops: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        lifecycle.start_hooks.append(self.started)
        lifecycle.exit_hooks.append(self.stopped)
        lifecycle.shutdown_hooks.append(self.close)
        # Containers adopted at service start keep being checked.
        for live in lifecycle.registry.all():
            if live.ctr.state.status == "running":
                self.started(live)

    def started(self, live: Live) -> None:
        check = live.ctr.config.healthcheck or Healthcheck()
        args = probe_args(list(check.test))
        if args is None:
            return
        stop = threading.Event()
        with self._lock:
            old = self._stops.pop(live.id, None)
            if old is not None:
                old.set()
            self._stops[live.id] = stop
        live.ctr.state.health = Health(status="starting")
        self.lc.registry.save(live)
        threading.Thread(
            target=self._run, args=(live, check, args, stop), name="health", daemon=True
        ).start()

    def stopped(self, cid: str) -> None:
        with self._lock:
            stop = self._stops.pop(cid, None)
        if stop is not None:
            stop.set()
            live = self.lc.registry.get(cid)
            if live is not None and live.ctr.state.health is not None:
                live.ctr.state.health.status = "unhealthy"  # as dockerd, once stopped

    def close(self) -> None:
        with self._lock:
            stops, self._stops = list(self._stops.values()), {}
        for stop in stops:
            stop.set()

    def _run(self, live: Live, hc: Healthcheck, args: list[str], stop: threading.Event) -> None:
        interval = hc.interval_ns / 1e9 or DEFAULT_INTERVAL
        timeout = hc.timeout_ns / 1e9 or DEFAULT_TIMEOUT
        retries = hc.retries or DEFAULT_RETRIES
        start_period = hc.start_period_ns / 1e9
        began = time.monotonic()
        # A timer, not a poll: the interval is what the user asked for.
        while not stop.wait(interval):
            if not live.running or live.removed:
                return
            started = _now()
            code, output = self._probe(live, args, timeout)
            if stop.is_set():
                return
            self._record(
                live, code, output, started, retries, time.monotonic() - began < start_period
            )

    def _probe(self, live: Live, args: list[str], timeout: float) -> tuple[int, str]:
        session = AttachSession(False, True, True)
        try:
            record = self.execs.create(
                ExecConfig(container=live.id, cmd=args, attach_stdout=True, attach_stderr=True)
            )
            self.execs.start(record.id, False, None, session)
        except HanguError as err:
            return -1, err.message
        out = bytearray()

        def drain() -> None:
            # Read while the probe runs: the session's output buffer is
            # bounded, and a full one would stall the probe's process.
            for kind, value in session.items():
                if kind != "exit" and isinstance(value, bytes):
                    out.extend(value[: MAX_OUTPUT - len(out)])

        reader = threading.Thread(target=drain, name="health-out", daemon=True)
        reader.start()
        try:
            if not record.done.wait(timeout):
                if record.pid > 0:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(record.pid, signal.SIGKILL)
                record.done.wait(5)
                return -1, f"Health check exceeded timeout ({timeout:g}s)"
            reader.join(5)
            return record.exit_code if record.exit_code is not None else -1, bytes(out).decode(
                errors="replace"
            )
        finally:
            session.close()
            self.execs.forget(record.id)

    def _record(
        self,
        live: Live,
        code: int,
        output: str,
        started: datetime,
        retries: int,
        in_start_period: bool,
    ) -> None:
        health = live.ctr.state.health
        if health is None:
            return  # the container has left (stopped() came first)
        health.log = [*health.log, HealthResult(started, _now(), code, output)][-KEEP:]
        streak = health.failing_streak
        before = health.status
        if code == 0:
            streak = 0
            status = "healthy"
        elif in_start_period and before == "starting":
            status = before  # failures in the start period do not count yet
        else:
            streak += 1
            status = "unhealthy" if streak >= retries else before
        health.failing_streak = streak
        health.status = status
        self.lc.registry.save(live)
        if status != before:
            log.info("health_status", id=live.id, status=status)
            self.lc.emit(f"health_status: {status}", live)
