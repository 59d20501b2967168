"""Signal names and numbers as Docker accepts them ("SIGKILL", "KILL", "9")."""

from __future__ import annotations

import signal

from hangu_runtime.errors import InvalidArgument


def parse_signal(value: str, default: int = signal.SIGTERM) -> int:
    value = (value or "").strip()
    if not value:
        return default
    if value.isdigit():
        num = int(value)
        if 0 < num < 65:
            return num
        raise InvalidArgument(f"Invalid signal: {value}")
    name = value.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name.startswith("SIGRTMIN+") or name.startswith("SIGRTMAX-"):
        base, _, off = name.partition("+" if "+" in name else "-")
        if off.isdigit():
            n = int(off)
            return int(signal.SIGRTMIN) + n if base == "SIGRTMIN" else int(signal.SIGRTMAX) - n
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise InvalidArgument(f"Invalid signal: {value}") from None
