"""Holding an attached client's stdin until its container has started.

`docker run -i` attaches before it starts the container and sends stdin at
once. Bytes that reach the container service before the start wait there,
and the service's start path currently hands them all to conmon before
`runc start`: more than a pipe holds (a few hundred KiB) and the start
blocks for good. Keeping stdin here until the start has returned avoids that
and costs nothing else: before the start nobody could read the bytes anyway.
The start handler opens the gate; a poll catches starts made elsewhere
(another client, a restart policy)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

_gates: dict[str, set[asyncio.Event]] = {}


def register(container_id: str) -> asyncio.Event:
    gate = asyncio.Event()
    _gates.setdefault(container_id, set()).add(gate)
    return gate


def unregister(container_id: str, gate: asyncio.Event) -> None:
    gates = _gates.get(container_id)
    if gates is not None:
        gates.discard(gate)
        if not gates:
            del _gates[container_id]


def waiting() -> bool:
    return bool(_gates)


def started(container_id: str) -> None:
    for gate in _gates.pop(container_id, set()):
        gate.set()


async def wait_open(
    gate: asyncio.Event, still_waiting: Callable[[], Awaitable[bool]], poll: float = 0.5
) -> None:
    """Until the gate opens, or a poll says the container left `created`."""
    while not gate.is_set():
        try:
            await asyncio.wait_for(gate.wait(), poll)
        except TimeoutError:
            if not await still_waiting():
                return
