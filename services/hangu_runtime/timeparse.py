"""Docker's time inputs, read as dockerd reads them.

`since`/`until` values and the `until` filter come in every form moby's
`daemon/internal/timestamp.Parse` takes: a Go duration back from now
("1h30m", "90s", "-1.5h"), RFC 3339 with or without a zone (or a fraction),
the shorter forms "2006-01-02", "2006-01-02T15", "2006-01-02T15:04" (with or
without a zone), and unix seconds with an optional fraction
("1700000000.123456789"). A value without a zone is in the local zone at its
current offset (moby's FixedZone of now's zone).

Go's own parsers are reproduced rather than approximated with
`datetime.fromisoformat`, which accepts other shapes (spaces, week dates,
lowercase "t") and reports other errors: a client gets dockerd's answer,
message included. Every time is returned as unix nanoseconds (UTC)."""

from __future__ import annotations

import re
import time
from datetime import datetime

from .gotext import go_quote

NS = 1_000_000_000
_MAX_INT64 = (1 << 63) - 1

# Go layouts moby picks from, by the shape of the value.
RFC3339 = "2006-01-02T15:04:05Z07:00"
RFC3339_NANO = "2006-01-02T15:04:05.999999999Z07:00"
_RFC3339_LOCAL = "2006-01-02T15:04:05"
_RFC3339_NANO_LOCAL = "2006-01-02T15:04:05.999999999"
_DATE_WITH_ZONE = "2006-01-02Z07:00"
_DATE_LOCAL = "2006-01-02"

# The layout elements those layouts use; everything else is literal text.
_ELEMENTS = ("2006", "01", "02", "15", "04", "05", ".999999999", "Z07:00")

_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # MICRO SIGN
    "\u03bcs": 1_000,  # GREEK SMALL LETTER MU
    "ms": 1_000_000,
    "s": NS,
    "m": 60 * NS,
    "h": 3600 * NS,
}


class TimeParseError(ValueError):
    """A value none of Docker's time forms accepts; the text is Go's."""


# ------------------------------------------------------------ durations
def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: `[-+]?([0-9]*(\\.[0-9]*)?unit)+`."""
    invalid = TimeParseError(f"time: invalid duration {go_quote(text)}")
    s, negative = text, False
    if s[:1] in ("-", "+"):
        negative, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise invalid
        digits = _leading_digits(s)
        s = s[len(digits) :]
        whole = int(digits) if digits else 0
        if whole > 1 << 63:
            raise invalid
        fraction, scale, has_fraction = 0, 1.0, False
        if s.startswith("."):
            s = s[1:]
            frac_digits = _leading_digits(s)
            s = s[len(frac_digits) :]
            has_fraction = bool(frac_digits)
            fraction, scale = _leading_fraction(frac_digits)
        if not digits and not has_fraction:
            raise invalid
        end = 0
        while end < len(s) and not (s[end] == "." or "0" <= s[end] <= "9"):
            end += 1
        if end == 0:
            raise TimeParseError(f"time: missing unit in duration {go_quote(text)}")
        unit_name, s = s[:end], s[end:]
        unit = _DURATION_UNITS.get(unit_name)
        if unit is None:
            raise TimeParseError(
                f"time: unknown unit {go_quote(unit_name)} in duration {go_quote(text)}"
            )
        if whole > (1 << 63) // unit:
            raise invalid
        value = whole * unit
        if fraction:
            # Go computes this part in float64 and truncates, as here.
            value += int(float(fraction) * (float(unit) / scale))
            if value > 1 << 63:
                raise invalid
        total += value
        if total > 1 << 63:
            raise invalid
    if negative:
        return -total
    if total > _MAX_INT64:
        raise invalid
    return total


def _leading_digits(s: str) -> str:
    end = 0
    while end < len(s) and "0" <= s[end] <= "9":
        end += 1
    return s[:end]


def _leading_fraction(digits: str) -> tuple[int, float]:
    """Go's leadingFraction: digits past int64 precision are dropped."""
    value, scale = 0, 1.0
    for ch in digits:
        if value > _MAX_INT64 // 10:
            break
        nxt = value * 10 + int(ch)
        if nxt > 1 << 63:
            break
        value, scale = nxt, scale * 10
    return value, scale


# ------------------------------------------------------------ Go layouts
def _tokens(layout: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(layout):
        element = next((e for e in _ELEMENTS if layout.startswith(e, i)), None)
        if element is None:
            if out and out[-1] not in _ELEMENTS:
                out[-1] += layout[i]
            else:
                out.append(layout[i])
            i += 1
        else:
            out.append(element)
            i += len(element)
    return out


def _digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _days_in(month: int, year: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_layout(layout: str, value: str, local_offset: int = 0) -> int:
    """Go's time.Parse(layout, value) for the layouts above, in unix ns;
    a layout without a zone reads the value at `local_offset` seconds east
    of UTC (ParseInLocation)."""

    def error(layout_elem: str, value_elem: str) -> TimeParseError:
        return TimeParseError(
            f"parsing time {go_quote(value)} as {go_quote(layout)}: cannot parse "
            f"{go_quote(value_elem)} as {go_quote(layout_elem)}"
        )

    def message(text: str) -> TimeParseError:
        return TimeParseError(f"parsing time {go_quote(value)}{text}")

    year, month, day, hour, minute, second, nsec = 0, 1, 1, 0, 0, 0, 0
    offset: int | None = None
    rest = value
    tokens = _tokens(layout)
    for index, token in enumerate(tokens):
        if token not in _ELEMENTS:
            if not rest.startswith(token):
                raise error(token, rest)
            rest = rest[len(token) :]
            continue
        hold, out_of_range = rest, ""
        if token == "2006":
            if len(rest) < 4 or not all("0" <= c <= "9" for c in rest[:4]):
                raise error(token, hold)
            year, rest = int(rest[:4]), rest[4:]
        elif token in ("01", "02", "04", "05"):
            if not (_digit(rest, 0) and _digit(rest, 1)):
                raise error(token, hold)
            number, rest = int(rest[:2]), rest[2:]
            if token == "01":
                month, out_of_range = number, "" if 1 <= number <= 12 else "month"
            elif token == "02":
                day = number  # checked against the month below, as Go does
            elif token == "04":
                minute, out_of_range = number, "" if number < 60 else "minute"
            else:
                second, out_of_range = number, "" if number < 60 else "second"
                following = tokens[index + 1] if index + 1 < len(tokens) else ""
                if not out_of_range and following != ".999999999":
                    # Go takes a fraction the layout does not mention.
                    nsec, rest = _fraction(rest, nsec)
        elif token == "15":
            if not _digit(rest, 0):
                raise error(token, hold)
            width = 2 if _digit(rest, 1) else 1
            hour, rest = int(rest[:width]), rest[width:]
            out_of_range = "" if hour < 24 else "hour"
        elif token == ".999999999":
            nsec, rest = _fraction(rest, nsec)
        else:  # Z07:00
            if rest.startswith("Z"):
                offset, rest = 0, rest[1:]
            else:
                zone = rest[:6]
                if (
                    len(zone) < 6
                    or zone[3] != ":"
                    or zone[0] not in "+-"
                    or not all(_digit(zone, i) for i in (1, 2, 4, 5))
                ):
                    raise error(token, hold)
                hours, minutes = int(zone[1:3]), int(zone[4:6])
                if hours > 24:
                    out_of_range = "time zone offset hour"
                elif minutes > 60:
                    out_of_range = "time zone offset minute"
                offset = (hours * 60 + minutes) * 60 * (-1 if zone[0] == "-" else 1)
                rest = rest[6:]
        if out_of_range:
            raise message(f": {out_of_range} out of range")
    if rest:
        raise message(f": extra text: {go_quote(rest)}")
    if not 1 <= day <= _days_in(month, year):
        raise message(": day out of range")
    seconds = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    seconds -= local_offset if offset is None else offset
    return seconds * NS + nsec


def _fraction(rest: str, nsec: int) -> tuple[int, str]:
    """A ".123" or ",123" fraction of a second, if there is one (Go keeps
    nine digits and drops the rest)."""
    if len(rest) < 2 or rest[0] not in ".," or not _digit(rest, 1):
        return nsec, rest
    digits = _leading_digits(rest[1:])
    return int(digits[:9].ljust(9, "0")), rest[1 + len(digits) :]


def parse_rfc3339(text: str) -> int:
    """Go's time.Parse(time.RFC3339Nano, text): how image configs' times read."""
    return parse_layout(RFC3339_NANO, text)


# ------------------------------------------------------------ Docker's forms
def _local_offset() -> int:
    offset = datetime.now().astimezone().utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def parse(value: str, now_ns: int | None = None, local_offset: int | None = None) -> int:
    """moby's timestamp.Parse: any of Docker's time forms, in unix ns.
    Durations count back from `now_ns` (default: now); zone-less values are
    read at `local_offset` seconds east of UTC (default: the local zone's
    offset now)."""
    if not value.strip():
        raise TimeParseError("failed to parse value as time or duration: value is empty")
    if value != "0":
        try:
            duration = parse_duration(value)
        except TimeParseError:
            pass
        else:
            return (time.time_ns() if now_ns is None else now_ns) - duration
    in_location = not any(c in value for c in "zZ+") and value.count("-") != 3
    if "." in value:
        layout = _RFC3339_NANO_LOCAL if in_location else RFC3339_NANO
    elif "T" in value:
        colons = value.count(":")
        if not in_location and not any(c in value for c in "zZ") and colons > 0:
            colons -= 1  # the zone's own colon
        if in_location:
            layout = {0: "2006-01-02T15", 1: "2006-01-02T15:04"}.get(colons, _RFC3339_LOCAL)
        else:
            layout = {0: "2006-01-02T15Z07:00", 1: "2006-01-02T15:04Z07:00"}.get(colons, RFC3339)
    else:
        layout = _DATE_LOCAL if in_location else _DATE_WITH_ZONE
    offset = (_local_offset() if local_offset is None else local_offset) if in_location else 0
    try:
        return parse_layout(layout, value, offset)
    except TimeParseError:
        if "-" in value:
            raise  # an RFC 3339-like value: Go's own error says what is wrong
    try:
        return _parse_unix(value)
    except TimeParseError as err:
        raise TimeParseError(f"failed to parse value as time or duration: {err}") from None


_INT64 = re.compile(r"[+-]?[0-9]+\Z")


def _parse_unix(value: str) -> int:
    """moby's parseTimestamp: "seconds[.fraction]", the fraction padded or
    cut to nanoseconds."""
    whole, dot, fraction = value.partition(".")
    if not _INT64.match(whole):
        raise TimeParseError(f"invalid seconds {go_quote(whole)}: invalid syntax")
    seconds = int(whole)
    if not -(1 << 63) <= seconds <= _MAX_INT64:
        raise TimeParseError(f"invalid seconds {go_quote(whole)}: value out of range")
    if not dot or fraction in ("", "0", "000000000"):
        return seconds * NS
    if len(fraction) > 20:
        raise TimeParseError(f"invalid nanoseconds: length {len(fraction)} exceeds maximum 20")
    for position, ch in enumerate(fraction):
        if not "0" <= ch <= "9":
            quoted = "'\\''" if ch == "'" else f"'{ch}'"
            raise TimeParseError(
                f"invalid nanoseconds: invalid character {quoted} at position {position}"
            )
    return seconds * NS + int(fraction[:9].ljust(9, "0"))
