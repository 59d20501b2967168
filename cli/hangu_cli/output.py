"""Output formatting shared by the commands: tables, sizes and times the
way the docker CLI prints them."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from hangu_runtime.units import human_duration


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO | None = None, gap: int = 3
) -> None:
    """Left-aligned columns, each as wide as its widest cell plus a gap."""
    out = out or sys.stdout
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    for row in [list(headers), *rows]:
        cells = [
            cell.ljust(widths[i] + gap) if i < len(row) - 1 else cell for i, cell in enumerate(row)
        ]
        out.write("".join(cells).rstrip() + "\n")


def ago(timestamp: float, now: float | None = None) -> str:
    return human_duration((now or time.time()) - timestamp) + " ago"


def short_id(identifier: str) -> str:
    return identifier.removeprefix("sha256:")[:12]


def truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def ports(entries: list[dict[str, Any]] | None) -> str:
    parts = []
    for port in entries or []:
        private = f"{port.get('PrivatePort')}/{port.get('Type', 'tcp')}"
        if port.get("PublicPort"):
            parts.append(f"{port.get('IP', '0.0.0.0')}:{port['PublicPort']}->{private}")
        else:
            parts.append(private)
    return ", ".join(parts)


class Progress:
    """Pull/push progress lines. On a terminal one line per layer is
    updated in place; otherwise each status change is printed once."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.lines: dict[str, int] = {}
        self.last: dict[str, str] = {}

    def show(self, message: dict[str, Any]) -> None:
        if "error" in message:
            return
        status = message.get("status", "")
        ident = message.get("id")
        if not ident:
            self.out.write(status + "\n")
            self.out.flush()
            return
        text = f"{ident}: {status}"
        if self.tty and message.get("progress"):
            text += " " + message["progress"]
        if not self.tty:
            if self.last.get(ident) == status:
                return
            self.last[ident] = status
            self.out.write(text + "\n")
            self.out.flush()
            return
        if ident not in self.lines:
            self.lines[ident] = len(self.lines)
            self.out.write(text + "\n")
        else:
            up = len(self.lines) - self.lines[ident]
            self.out.write(f"\x1b[{up}A\r\x1b[2K{text}\x1b[{up}B\r")
        self.out.flush()
