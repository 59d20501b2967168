"""Purge pass: start each service once more with HANGU_PURGE_ON_STOP=1 and
stop it again, so it removes all the kernel state it owns (containers and
their conmon, rootfs mounts, netns, veths, the bridge, the nftables table).
Needed when the stack ran without that variable: a service's environment
cannot be changed while it runs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hangu_runtime.config import Settings, env_var

from . import state
from .child import Child, ServiceFailed
from .services import SERVICES

# Settings.purge_on_stop, as the child services read it.
PURGE_ENV = env_var("purge_on_stop")


async def purge_pass(
    settings: Settings,
    env: dict[str, str],
    log: Callable[[str], None],
    start_timeout: float = 60,
    stop_timeout: float = 60,
) -> list[str]:
    """Returns the problems met (a service that would not start)."""
    paths = state.Paths.of(settings)
    purge_env = {**env, PURGE_ENV: "1"}
    started: list[Child] = []
    problems: list[str] = []
    for stage in sorted({spec.stage for spec in SERVICES}):
        children = [
            Child(spec, settings, paths, purge_env)
            for spec in SERVICES
            if spec.stage == stage and spec.purges
        ]
        for child in children:
            await child.spawn()
            started.append(child)
        results = await asyncio.gather(
            *(c.wait_ready(start_timeout) for c in children), return_exceptions=True
        )
        for result in results:
            if isinstance(result, ServiceFailed):
                log(result.report())
                problems.append(result.report())
            elif isinstance(result, BaseException):
                raise result
    for child in reversed(started):
        await child.stop(stop_timeout)
        log(f"purged {child.name} ({child.last_exit})")
    return problems
