"""Times as Docker writes them."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

ZERO_TIME = "0001-01-01T00:00:00Z"


def is_zero(ts: Timestamp) -> bool:
    return ts.seconds == 0 and ts.nanos == 0


def rfc3339nano(ts: Timestamp) -> str:
    """Go's time.RFC3339Nano in UTC: trailing zeros of the fraction dropped."""
    if is_zero(ts):
        return ZERO_TIME
    base = datetime.fromtimestamp(ts.seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ts.nanos:09d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def unix(ts: Timestamp) -> int:
    return int(ts.seconds)


def parse_unix(value: str) -> Timestamp | None:
    """Docker's since/until query values: unix seconds with an optional
    fraction ("1700000000.123456789"), or RFC 3339."""
    if not value:
        return None
    ts = Timestamp()
    try:
        if "." in value:
            sec, frac = value.split(".", 1)
            ts.seconds = int(sec)
            ts.nanos = int(frac.ljust(9, "0")[:9])
        else:
            ts.seconds = int(value)
        return ts
    except ValueError:
        pass
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    ts.FromDatetime(dt.astimezone(UTC))
    return ts
