"""Docker's time inputs and the one RFC 3339 formatter, checked against
dockerd's own answers (moby's daemon/internal/timestamp tests, Go's
time.ParseDuration and time.Parse)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from hangu_runtime import timeparse
from hangu_runtime.timeparse import TimeParseError, parse, parse_duration
from hangu_runtime.times import (
    ZERO_TIME,
    datetime_from_timestamp,
    ns_from_timestamp,
    query_timestamp,
    rfc3339,
    timestamp_from_datetime,
    timestamp_from_ns,
    timestamp_from_seconds,
)

# moby's TestParse reference time: 2020-01-02T03:04:05.123456789Z.
NOW = 1577934245_123456789
S = 1_000_000_000


def _ns(text: str) -> int:
    """An RFC 3339 time in UTC as unix ns (the expected side of a row)."""
    base, _, frac = text.rstrip("Z").partition(".")
    dt = datetime.fromisoformat(base).replace(tzinfo=UTC)
    return int(dt.timestamp()) * S + int(frac.ljust(9, "0") or 0)


@pytest.mark.parametrize(
    "value,expected",
    [
        # moby TestParse: partial RFC 3339, with and without a zone
        ("2006-01-02T15:04:05.999999999+07:00", "2006-01-02T08:04:05.999999999Z"),
        ("2006-01-02T15:04:05.999999999Z", "2006-01-02T15:04:05.999999999Z"),
        ("2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z"),
        ("2006-01-02T15:04:05Z", "2006-01-02T15:04:05Z"),
        ("2006-01-02T15:04:05", "2006-01-02T15:04:05Z"),
        ("2006-01-02T15:04Z", "2006-01-02T15:04:00Z"),
        ("2006-01-02T15:04+00:00", "2006-01-02T15:04:00Z"),
        ("2006-01-02T15:04-00:00", "2006-01-02T15:04:00Z"),
        ("2006-01-02T15:04", "2006-01-02T15:04:00Z"),
        ("2006-01-02T15Z", "2006-01-02T15:00:00Z"),
        ("2006-01-02T15+00:00", "2006-01-02T15:00:00Z"),
        ("2006-01-02T15-00:00", "2006-01-02T15:00:00Z"),
        ("2006-01-02T15", "2006-01-02T15:00:00Z"),
        ("2006-01-02T1Z", "2006-01-02T01:00:00Z"),
        ("2006-01-02T1", "2006-01-02T01:00:00Z"),
        ("2006-01-02+00:00", "2006-01-02T00:00:00Z"),
        ("2006-01-02-00:00", "2006-01-02T00:00:00Z"),
        ("2006-01-02-00:01", "2006-01-02T00:01:00Z"),
        ("2006-01-02Z", "2006-01-02T00:00:00Z"),
        ("2006-01-02", "2006-01-02T00:00:00Z"),
        ("2015-05-13T20:39:09Z", "2015-05-13T20:39:09Z"),
        # unix seconds, with a fraction padded or cut to nanoseconds
        ("1136073600", "2006-01-01T00:00:00Z"),
        ("1136073600.000000001", "2006-01-01T00:00:00.000000001Z"),
        ("1136073600.00000000000000000001", "2006-01-01T00:00:00Z"),
        ("1136073600.1", "2006-01-01T00:00:00.1Z"),
        ("1136073600.", "2006-01-01T00:00:00Z"),
        ("0", "1970-01-01T00:00:00Z"),  # "0" is a time, not a duration
        # Go durations, back from now
        ("-1m", "2020-01-02T03:05:05.123456789Z"),
        ("0m", "2020-01-02T03:04:05.123456789Z"),
        ("1m", "2020-01-02T03:03:05.123456789Z"),
        ("1.5h", "2020-01-02T01:34:05.123456789Z"),
        ("1h30m", "2020-01-02T01:34:05.123456789Z"),
        ("90s", "2020-01-02T03:02:35.123456789Z"),
        ("-1.5h", "2020-01-02T04:34:05.123456789Z"),
        ("1h0.5m30s", "2020-01-02T02:03:05.123456789Z"),
    ],
)
def test_parse_as_dockerd(value: str, expected: str) -> None:
    assert parse(value, now_ns=NOW, local_offset=0) == _ns(expected)


@pytest.mark.parametrize(
    "value,message",
    [
        (
            "2006-01-02T15:04:0Z",
            'parsing time "2006-01-02T15:04:0Z" as "2006-01-02T15:04:05Z07:00"',
        ),
        ("2006-01-02T15:04:0", 'parsing time "2006-01-02T15:04:0" as "2006-01-02T15:04:05"'),
        ("2006-01-02T15:0Z", 'parsing time "2006-01-02T15:0Z" as "2006-01-02T15:04Z07:00"'),
        ("2006-01-02T15:0", 'parsing time "2006-01-02T15:0" as "2006-01-02T15:04"'),
        ("2006-01-02TZ", 'parsing time "2006-01-02TZ" as "2006-01-02T15Z07:00"'),
        ("2006-01-02T", 'parsing time "2006-01-02T" as "2006-01-02T15": cannot parse "" as "15"'),
        ("2023-13-01", 'parsing time "2023-13-01": month out of range'),
        ("2023-02-29", 'parsing time "2023-02-29": day out of range'),
        ("2023-01-01T24:00:00Z", 'parsing time "2023-01-01T24:00:00Z": hour out of range'),
        ("2023-01-01x", 'parsing time "2023-01-01x": extra text: "x"'),
        ("2023-01-01T00:00:00z", 'cannot parse "z" as "Z07:00"'),
        ("-5", 'parsing time "-5" as "2006-01-02": cannot parse "-5" as "2006"'),
        (" 1136073600 \t", "failed to parse value as time or duration: invalid seconds"),
        ("foo.bar", 'failed to parse value as time or duration: invalid seconds "foo"'),
        ("1136073600.bar", "invalid nanoseconds: invalid character 'b' at position 0"),
        ("1136073600.000000001bar", "invalid nanoseconds: invalid character 'b' at position 9"),
        ("1136073600.000000000000000000001", "invalid nanoseconds: length 21 exceeds maximum 20"),
        ("invalid", 'failed to parse value as time or duration: invalid seconds "invalid": '),
        ("1_000", 'invalid seconds "1_000": invalid syntax'),
        ("", "failed to parse value as time or duration: value is empty"),
        ("99999999999999999999", 'invalid seconds "99999999999999999999": value out of range'),
    ],
)
def test_parse_errors_as_dockerd(value: str, message: str) -> None:
    with pytest.raises(TimeParseError) as err:
        parse(value, now_ns=NOW, local_offset=0)
    assert message in str(err.value)


def test_zone_less_values_are_local() -> None:
    # moby reads them in FixedZone(now's zone): at +02:00, 10:00 is 08:00Z.
    assert parse("2006-01-02T10:00:00", local_offset=7200) == _ns("2006-01-02T08:00:00Z")
    assert parse("2006-01-02", local_offset=-3600) == _ns("2006-01-02T01:00:00Z")
    assert parse("2006-01-02Z", local_offset=-3600) == _ns("2006-01-02T00:00:00Z")


@pytest.mark.parametrize(
    "text,ns",
    [
        ("0", 0),
        ("+0", 0),
        ("-0", 0),
        ("5s", 5 * S),
        ("1h30m", 5400 * S),
        ("-1.5h", -5400 * S),
        (".5s", S // 2),
        ("5.s", 5 * S),
        ("1.0000000001s", S),  # beyond nanoseconds: cut
        ("300ms", 300_000_000),
        ("1us", 1000),
        ("1\u00b5s", 1000),
        ("1\u03bcs", 1000),
        ("2562047h47m16.854775807s", (1 << 63) - 1),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize(
    "text,message",
    [
        ("", 'time: invalid duration ""'),
        ("1", 'time: missing unit in duration "1"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        (".s", 'time: invalid duration ".s"'),
        ("1 h", 'time: unknown unit " h" in duration "1 h"'),
        ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ],
)
def test_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(TimeParseError, match=f"^{message}$"):
        parse_duration(text)


def test_parse_rfc3339_reads_image_configs() -> None:
    assert timeparse.parse_rfc3339("2024-01-01T00:00:00Z") == _ns("2024-01-01T00:00:00Z")
    assert timeparse.parse_rfc3339("2023-06-01T12:00:00.123456789+02:00") == _ns(
        "2023-06-01T10:00:00.123456789Z"
    )
    with pytest.raises(TimeParseError):
        timeparse.parse_rfc3339("2024-01-01")


@pytest.mark.parametrize(
    "ts,fraction,text",
    [
        (Timestamp(seconds=1_700_000_000, nanos=120_000_000), "trim", "2023-11-14T22:13:20.12Z"),
        (Timestamp(seconds=1_700_000_000), "trim", "2023-11-14T22:13:20Z"),
        (Timestamp(seconds=1_700_000_000, nanos=1), "trim", "2023-11-14T22:13:20.000000001Z"),
        (Timestamp(), "trim", ZERO_TIME),
        (Timestamp(seconds=1_700_000_000, nanos=5), "fixed", "2023-11-14T22:13:20.000000005Z"),
        (Timestamp(seconds=1_700_000_000), "fixed", "2023-11-14T22:13:20.000000000Z"),
        (Timestamp(seconds=1_700_000_000, nanos=999_999_999), "none", "2023-11-14T22:13:20Z"),
        (Timestamp(), "none", ZERO_TIME),
    ],
)
def test_rfc3339_as_go_formats(ts: Timestamp, fraction: str, text: str) -> None:
    assert rfc3339(ts, fraction) == text  # type: ignore[arg-type]  # Literal from a table


def test_rfc3339_from_nanoseconds() -> None:
    assert rfc3339(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert rfc3339(0) == "1970-01-01T00:00:00Z"  # a number is a time, never "unset"
    assert rfc3339(-1) == "1969-12-31T23:59:59.999999999Z"


def test_timestamp_conversions() -> None:
    ts = timestamp_from_ns(1_700_000_000_123_456_789)
    assert (ts.seconds, ts.nanos) == (1_700_000_000, 123_456_789)
    assert ns_from_timestamp(ts) == 1_700_000_000_123_456_789
    assert timestamp_from_seconds(1_700_000_000.5) == Timestamp(
        seconds=1_700_000_000, nanos=500_000_000
    )
    assert timestamp_from_seconds(0) == Timestamp()
    dt = datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert datetime_from_timestamp(timestamp_from_datetime(dt)) == dt
    assert query_timestamp("") is None
    assert query_timestamp("1700000000.5") == Timestamp(seconds=1_700_000_000, nanos=500_000_000)
    assert query_timestamp("10s", now_ns=20 * S) == Timestamp(seconds=10)
