"""Health-check rules as dockerd applies them (pure; the runner is
`health.py`): the probe command of a Healthcheck.Test, the create-time
checks and the merge with the image's HEALTHCHECK, the schedule (interval,
start interval during the start period), how one probe result moves
State.Health, and the probe's output as Docker keeps it (4096 bytes, then
"...")."""

from __future__ import annotations

import copy
from typing import Any

from hangu_runtime.errors import InvalidArgument

from .model import Health, Healthcheck, HealthResult

NS = 1_000_000_000
DEFAULT_INTERVAL_NS = 30 * NS
DEFAULT_TIMEOUT_NS = 30 * NS
DEFAULT_START_INTERVAL_NS = 5 * NS
DEFAULT_RETRIES = 3
MIN_DURATION_NS = 1_000_000  # containertypes.MinimumDuration (1ms)
MAX_OUTPUT = 4096
KEEP = 5  # entries of State.Health.Log


def probe_args(test: list[str], shell: list[str] | None = None) -> list[str] | None:
    """The command of a Healthcheck.Test, or None when there is no probe
    (no test, NONE, or a type dockerd does not know)."""
    if not test:
        return None
    kind, rest = test[0], list(test[1:])
    if kind == "CMD":
        return rest or None
    if kind == "CMD-SHELL":
        return [*(shell or ["/bin/sh", "-c"]), *rest] if rest else None
    return None  # NONE, or unknown: dockerd runs no probe


def validate(hc: Healthcheck | None) -> None:
    """dockerd's validateHealthCheck (on the request, before the merge)."""
    if hc is None:
        return
    for name, value in (("Interval", hc.interval_ns), ("Timeout", hc.timeout_ns)):
        if value != 0 and value < MIN_DURATION_NS:
            raise InvalidArgument(f"{name} in Healthcheck cannot be less than 1ms")
    if hc.retries < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")
    for name, value in (
        ("StartPeriod", hc.start_period_ns),
        ("StartInterval", hc.start_interval_ns),
    ):
        if value != 0 and value < MIN_DURATION_NS:
            raise InvalidArgument(f"{name} in Healthcheck cannot be less than 1ms")


def merge(user: Healthcheck | None, image: dict[str, Any] | None) -> Healthcheck | None:
    """dockerd's merge: no user check takes the image's; a user check
    without a test takes the image's test, and each zero field the image's."""
    if not image:
        return user
    theirs = Healthcheck(
        test=list(image.get("Test") or []),
        interval_ns=int(image.get("Interval") or 0),
        timeout_ns=int(image.get("Timeout") or 0),
        start_period_ns=int(image.get("StartPeriod") or 0),
        start_interval_ns=int(image.get("StartInterval") or 0),
        retries=int(image.get("Retries") or 0),
    )
    if user is None:
        return theirs
    out = copy.deepcopy(user)
    if not out.test:
        out.test = theirs.test
    out.interval_ns = out.interval_ns or theirs.interval_ns
    out.timeout_ns = out.timeout_ns or theirs.timeout_ns
    out.start_period_ns = out.start_period_ns or theirs.start_period_ns
    out.start_interval_ns = out.start_interval_ns or theirs.start_interval_ns
    out.retries = out.retries or theirs.retries
    return out


def next_interval(hc: Healthcheck, status: str, started_at: float, now: float) -> float:
    """Seconds until the next probe: the start interval while the start
    period runs and no probe has succeeded yet, else the interval."""
    interval = (hc.interval_ns or DEFAULT_INTERVAL_NS) / NS
    if now - started_at >= hc.start_period_ns / NS or status != "starting":
        return interval
    return (hc.start_interval_ns or DEFAULT_START_INTERVAL_NS) / NS


def record(health: Health, result: HealthResult, hc: Healthcheck, started_at: float) -> bool:
    """Add one probe's result (dockerd's handleProbeResult); True when the
    status changed (a health_status event). A failure in the start period,
    before any success, does not count."""
    before = health.status
    health.log = [*health.log, result][-KEEP:]
    if result.exit_code == 0:
        health.failing_streak = 0
        health.status = "healthy"
        return health.status != before
    if before == "starting" and result.start.timestamp() - started_at < hc.start_period_ns / NS:
        return False
    health.failing_streak += 1
    if health.failing_streak >= (hc.retries if hc.retries > 0 else DEFAULT_RETRIES):
        health.status = "unhealthy"
    return health.status != before


class Output:
    """A probe's stdout and stderr together, cut at 4096 bytes (then "...")."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.truncated = False

    def write(self, data: bytes) -> None:
        keep = max(0, min(MAX_OUTPUT - len(self.buf), len(data)))
        self.buf.extend(data[:keep])
        if keep < len(data):
            self.truncated = True

    def text(self) -> str:
        out = bytes(self.buf).decode(errors="replace")
        return out + "..." if self.truncated else out


def go_duration(ns: int) -> str:
    """Go's time.Duration.String(): 500ms, 1.5s, 1m30s, 1h0m0s."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < NS:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if u >= size:
                return sign + _fraction(u, size) + unit
    hours, rest = divmod(u, 3600 * NS)
    minutes, rest = divmod(rest, 60 * NS)
    text = _fraction(rest, NS) + "s"
    if hours or minutes:
        text = f"{minutes}m" + text
    if hours:
        text = f"{hours}h" + text
    return sign + text


def _fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(size)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
