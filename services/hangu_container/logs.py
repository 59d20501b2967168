"""conmon's k8s-file logs, read back the way `docker logs` shows them.

Each line: `<RFC3339Nano time> <stdout|stderr> <P|F> <text>`. P marks a
partial line (output without a newline yet); a run of P lines ends with an F
line, and together they are one log entry, as Docker's json-file has it."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .lognotify import Subscription


@dataclass(frozen=True)
class LogEntry:
    time_ns: int
    stream: str  # "stdout" | "stderr"
    data: bytes


def parse_time(text: str) -> int:
    """RFC 3339 with nanoseconds → ns since the epoch."""
    date_part, _, rest = text.partition("T")
    frac = ""
    tz = ""
    clock = rest
    for sep in ("Z", "+", "-"):
        idx = rest.find(sep, 8) if sep != "Z" else rest.find("Z")
        if idx >= 0:
            clock, tz = rest[:idx], rest[idx:]
            break
    if "." in clock:
        clock, frac = clock.split(".", 1)
    tz = "+00:00" if tz in ("", "Z") else tz
    base = datetime.fromisoformat(f"{date_part}T{clock}{tz}")
    nanos = int((frac + "000000000")[:9]) if frac else 0
    return int(base.timestamp()) * 1_000_000_000 + nanos


def parse_line(line: bytes) -> tuple[int, str, bool, bytes] | None:
    """(time_ns, stream, partial, text) of one file line (without its \\n)."""
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        return None
    try:
        ts = parse_time(parts[0].decode())
    except ValueError:
        return None
    text = parts[3] if len(parts) > 3 else b""
    return ts, parts[1].decode(errors="replace"), parts[2] == b"P", text


class _Joiner:
    """Joins P lines with their F line, per stream."""

    def __init__(self) -> None:
        self.pending: dict[str, tuple[int, bytes]] = {}

    def feed(self, line: bytes) -> LogEntry | None:
        parsed = parse_line(line)
        if parsed is None:
            return None
        ts, stream, partial, text = parsed
        first_ts, acc = self.pending.pop(stream, (ts, b""))
        if partial:
            self.pending[stream] = (first_ts, acc + text)
            return None
        return LogEntry(first_ts, stream, acc + text + b"\n")

    def flush(self) -> list[LogEntry]:
        out = [LogEntry(ts, stream, data) for stream, (ts, data) in self.pending.items()]
        self.pending.clear()
        return sorted(out, key=lambda e: e.time_ns)


def read_entries(path: Path) -> Iterator[LogEntry]:
    """Every complete entry in the file, then trailing partial ones."""
    joiner = _Joiner()
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the `with` below; opening may fail
    except FileNotFoundError:
        return
    with fh:
        for raw in fh:
            entry = joiner.feed(raw.rstrip(b"\n"))
            if entry is not None:
                yield entry
    yield from joiner.flush()


@dataclass(frozen=True)
class LogQuery:
    stdout: bool = True
    stderr: bool = True
    since_ns: int = 0
    until_ns: int = 0  # 0: no bound
    tail: int = -1  # -1: all


def _wanted(entry: LogEntry, q: LogQuery) -> bool:
    if entry.stream == "stdout" and not q.stdout:
        return False
    if entry.stream == "stderr" and not q.stderr:
        return False
    return entry.time_ns >= q.since_ns


def select(path: Path, q: LogQuery) -> list[LogEntry]:
    """What `docker logs` (without --follow) prints."""
    out: deque[LogEntry] | list[LogEntry]
    out = deque(maxlen=q.tail) if q.tail >= 0 else []
    for entry in read_entries(path):
        if q.until_ns and entry.time_ns > q.until_ns:
            break
        if _wanted(entry, q):
            out.append(entry)
    return list(out)


def follow(
    path: Path,
    q: LogQuery,
    running: Callable[[], bool],
    sub: Subscription,
    stop: threading.Event | None = None,
) -> Iterator[LogEntry]:
    """The selected entries, then new ones as conmon writes them, until the
    container is no longer running (or `stop` is set: the client left).
    `sub` wakes us when the log folder changes or the container exits."""
    fh = None
    try:
        joiner = _Joiner()
        inode = -1
        pos = 0
        buf = b""
        if q.tail >= 0:
            yield from select(path, q)
            # Start following after what tail already gave.
            try:
                st = path.stat()
                pos, inode = st.st_size, st.st_ino
            except FileNotFoundError:
                pos = 0
        while True:
            if stop is not None and stop.is_set():
                return
            done = not running()
            try:
                st = path.stat()
                if st.st_ino != inode or st.st_size < pos:
                    # conmon rotated (or truncated) the file: start over.
                    if fh is not None:
                        fh.close()
                        fh = None
                    if inode != -1:
                        pos = 0
                    inode = st.st_ino
                    pos = min(pos, st.st_size)
                if fh is None:
                    # Kept open across polls, closed on rotation and at the end.
                    fh = open(path, "rb")  # noqa: SIM115
                fh.seek(pos)
                chunk = fh.read()
                pos += len(chunk)
                buf += chunk
            except FileNotFoundError:
                pass
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                entry = joiner.feed(line)
                if entry is None:
                    continue
                if q.until_ns and entry.time_ns > q.until_ns:
                    return
                if _wanted(entry, q):
                    yield entry
            if done:
                for entry in joiner.flush():
                    if _wanted(entry, q):
                        yield entry
                return
            # Woken by conmon's writes, the exit, or `stop`; the timeout is
            # only a safety net.
            sub.wait(timeout=30.0)
    finally:
        if fh is not None:
            fh.close()
