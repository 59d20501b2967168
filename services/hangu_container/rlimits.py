"""Ulimits → OCI rlimits, clamped to this host's hard limits.

runc calls setrlimit() as root, but raising a hard limit above the current
one needs CAP_SYS_RESOURCE, which this host's bounding set lacks: asking for
more than the host has would fail the container start, so clamp."""

from __future__ import annotations

import resource
from collections.abc import Callable

from hangu_runtime.errors import InvalidArgument

_NAMES = {
    "core": "RLIMIT_CORE",
    "cpu": "RLIMIT_CPU",
    "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS",
    "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE",
    "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS",
    "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING",
    "stack": "RLIMIT_STACK",
    "as": "RLIMIT_AS",
}
UNLIMITED = 2**64 - 1


def _host_hard(kind: str) -> int:
    res = getattr(resource, kind, None)
    if res is None:
        return UNLIMITED
    hard = resource.getrlimit(res)[1]
    return UNLIMITED if hard == resource.RLIM_INFINITY or hard < 0 else hard


def _value(v: int) -> int:
    return UNLIMITED if v < 0 else v


def rlimits(
    ulimits: list[tuple[str, int, int]], host_hard: Callable[[str], int] = _host_hard
) -> list[dict[str, object]]:
    """`ulimits` is [(name, soft, hard)] as Docker's HostConfig.Ulimits."""
    out: dict[str, dict[str, object]] = {}
    for name, soft, hard in ulimits:
        kind = _NAMES.get(name.lower().removeprefix("rlimit_"))
        if kind is None:
            raise InvalidArgument(f"invalid ulimit type: {name}")
        soft_v, hard_v = _value(soft), _value(hard)
        if soft_v > hard_v:
            raise InvalidArgument(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
        cap = host_hard(kind)
        hard_v = min(hard_v, cap)
        soft_v = min(soft_v, hard_v)
        out[kind] = {"type": kind, "hard": hard_v, "soft": soft_v}
    return list(out.values())
