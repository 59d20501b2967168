"""Times between hangu's layers: datetime, unix seconds or nanoseconds and
protobuf `Timestamp` each way, and the one RFC 3339 formatter every time in
Docker's API goes through.

A zero Timestamp is "unset" (proto3 has no other way to say it); the
formatter writes it as Go's zero time, "0001-01-01T00:00:00Z", as dockerd
writes a time.Time it never set."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Literal

from google.protobuf.timestamp_pb2 import Timestamp

from .timeparse import NS, parse

ZERO_TIME = "0001-01-01T00:00:00Z"
GO_ZERO_SECONDS = -62135596800  # Go's zero time.Time in unix seconds
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# How many digits of the second's fraction are written:
#   "trim"  Go's time.RFC3339Nano: up to nine, trailing zeros dropped (the
#           form of every time.Time in dockerd's JSON);
#   "fixed" jsonmessage.RFC3339NanoFixed: always nine (`docker logs -t`);
#   "none"  time.RFC3339: whole seconds (volumes' CreatedAt).
Fraction = Literal["trim", "fixed", "none"]


def timestamp_from_ns(ns: int) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(ns)
    return ts


def timestamp_from_seconds(seconds: float) -> Timestamp:
    """From the float unix seconds the services' databases keep."""
    return timestamp_from_ns(int(seconds * 1e9))


def timestamp_from_datetime(dt: datetime) -> Timestamp:
    """An aware datetime, or a naive one in UTC."""
    ts = Timestamp()
    ts.FromDatetime(dt.astimezone(UTC) if dt.tzinfo is not None else dt)
    return ts


def ns_from_timestamp(ts: Timestamp) -> int:
    return int(ts.seconds) * NS + int(ts.nanos)


def datetime_from_timestamp(ts: Timestamp) -> datetime:
    """Aware, in UTC (microseconds: a datetime holds no more)."""
    return _EPOCH + timedelta(seconds=int(ts.seconds), microseconds=int(ts.nanos) // 1000)


def is_zero(ts: Timestamp) -> bool:
    return ts.seconds == 0 and ts.nanos == 0


def unix(ts: Timestamp) -> int:
    """Whole unix seconds, as Docker's integer `Created` fields."""
    return int(ts.seconds)


def rfc3339(value: Timestamp | int, fraction: Fraction = "trim") -> str:
    """RFC 3339 in UTC ("Z"), from a Timestamp or unix nanoseconds; see
    `Fraction` for the digits. A zero Timestamp is Go's zero time."""
    if isinstance(value, Timestamp):
        if is_zero(value):
            seconds, nanos = GO_ZERO_SECONDS, 0
        else:
            seconds, nanos = int(value.seconds), int(value.nanos)
    else:
        seconds, nanos = divmod(value, NS)
    t = _EPOCH + timedelta(seconds=seconds)
    # Not strftime: its %Y does not pad years before 1000 (Go's zero time).
    base = f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    if fraction == "fixed":
        return f"{base}.{nanos:09d}Z"
    digits = f"{nanos:09d}".rstrip("0") if fraction == "trim" else ""
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def now_rfc3339() -> str:
    """The current time as dockerd writes time.Now() (RFC3339Nano)."""
    return rfc3339(time.time_ns())


def query_timestamp(value: str, now_ns: int | None = None) -> Timestamp | None:
    """A `since`/`until` query value in any of Docker's time forms (see
    timeparse.parse); None when empty. Raises timeparse.TimeParseError."""
    if not value:
        return None
    return timestamp_from_ns(parse(value, now_ns))
