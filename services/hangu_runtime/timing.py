"""Phase timing for the structured log: every phase of a hot operation (a
container's create and start, a network connect and disconnect) is logged
with its milliseconds, so a latency regression shows where."""

from __future__ import annotations

import time
from typing import Any

from hangu_runtime import logging as hlog

log = hlog.get_logger("hangu.timing")


class Phases:
    def __init__(self, operation: str, **fields: Any) -> None:
        self.operation = operation
        self.fields = fields
        self.start = self.last = time.monotonic()
        self.phases: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        now = time.monotonic()
        self.phases[phase] = round((now - self.last) * 1000, 2)
        self.last = now

    def done(self, **extra: Any) -> None:
        total = round((time.monotonic() - self.start) * 1000, 2)
        log.info(
            f"{self.operation}_phases",
            total_ms=total,
            phases_ms=self.phases,
            **self.fields,
            **extra,
        )
