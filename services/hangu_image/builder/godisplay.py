"""Go's `%q`/`%v` renderings that dockerd writes into build history
(`CMD ["sh" "-c" "x"]`, `SHELL [/bin/sh -c]`, a health check's struct)."""

from __future__ import annotations

from collections.abc import Sequence

from hangu_runtime.gotext import go_quote


def quoted_list(items: Sequence[str]) -> str:
    """fmt's %q of a []string."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"


def plain_list(items: Sequence[str]) -> str:
    """fmt's %v of a []string."""
    return "[" + " ".join(items) + "]"


def duration(ns: int) -> str:
    """time.Duration.String() for whole milliseconds and up (what a
    Dockerfile can say): 0s, 500ms, 1.5s, 1m30s, 2h0m0s."""
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        ms = ns / 1_000_000
        return f"{ms:g}ms"
    total = ns / 1_000_000_000
    hours, rest = divmod(int(total), 3600)
    minutes = rest // 60
    seconds = total - hours * 3600 - minutes * 60
    text = f"{seconds:.9f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def quoted_rune(value: int) -> str:
    """fmt's %q of an int: a quoted character literal ('\\x02', 'A')."""
    if 0x20 <= value < 0x7F and chr(value) not in "'\\":
        return f"'{chr(value)}'"
    if value < 0x100:
        return f"'\\x{value:02x}'"
    return f"'\\u{value:04x}'"
