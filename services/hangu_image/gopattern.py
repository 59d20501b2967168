"""Go's pattern rules as Docker's .dockerignore uses them (dockerignore.py):
the syntax check of `filepath.Match` and the match itself (COPY and ADD
wildcards), the Go regular expression that moby's
patternmatcher builds from a pattern, and that Go regexp translated to an
equivalent Python one (Go's parser is modelled, so odd patterns behave as
in Docker: `[[:alpha:]]` is a POSIX class, `\\d` a digit, `[*]` is mangled)."""

from __future__ import annotations

import enum
import re

# Go's filepath.ErrBadPattern text, which Docker passes on unchanged.
BAD_PATTERN = "syntax error in pattern"

# Characters that patternmatcher escapes before building its regexp.
_REGEX_ONLY_META = ".+()|{}$"

_MAX_RUNE = 0x10FFFF

Ranges = list[tuple[int, int]]


class BadPattern(ValueError):
    """A pattern Docker rejects; the message is Docker's own wording."""

    def __init__(self, message: str, pattern: str = "") -> None:
        super().__init__(message)
        self.pattern = pattern


# filepath.Match syntax check


def check_match_syntax(pattern: str) -> None:
    """Raise where Go's `filepath.Match(pattern, ".")` returns ErrBadPattern.

    Go checks every chunk of the pattern even after the match failed, so the
    outcome depends on the pattern alone: a trailing `\\`, or a `[` class that is
    empty, unterminated, or has a bare `-`/`]` where a character must be.
    """
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            if i + 1 >= len(pattern):
                raise BadPattern(BAD_PATTERN, pattern)
            i += 2
        elif char == "[":
            i += 1
            if i < len(pattern) and pattern[i] == "^":
                i += 1
            ranges = 0
            while not (ranges and i < len(pattern) and pattern[i] == "]"):
                i = _class_char_end(pattern, i)
                if pattern[i] == "-":
                    i = _class_char_end(pattern, i + 1)
                ranges += 1
            i += 1
        else:
            i += 1


def _class_char_end(pattern: str, i: int) -> int:
    """Where one class character (maybe `\\`-escaped) ends; Go's getEsc."""
    if i >= len(pattern) or pattern[i] in "-]":
        raise BadPattern(BAD_PATTERN, pattern)
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise BadPattern(BAD_PATTERN, pattern)
    i += 1
    # Go also fails when nothing follows, since a class must still be closed.
    if i >= len(pattern):
        raise BadPattern(BAD_PATTERN, pattern)
    return i


# ---------------------------------------------------------------------------
# Pattern -> Go regexp text, as patternmatcher's compile builds it


class Kind(enum.Enum):
    EXACT = "exact"  # no wildcard: compare the strings
    PREFIX = "prefix"  # "dir/**" or "dir**": a string prefix
    SUFFIX = "suffix"  # starts with "**" and has no other wildcard
    REGEXP = "regexp"


def regexp_source(pattern: str) -> tuple[Kind, str]:
    kind = Kind.EXACT
    parts = ["^"]
    i = 0
    step = 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "*":
            if i < len(pattern) and pattern[i] == "*":
                i += 1
                # "**/" is taken as "**".
                if i < len(pattern) and pattern[i] == "/":
                    i += 1
                if i == len(pattern):
                    if kind is Kind.EXACT:
                        kind = Kind.PREFIX
                    else:
                        parts.append(".*")
                        kind = Kind.REGEXP
                else:
                    parts.append("(.*/)?")
                    kind = Kind.REGEXP
                if step == 0:
                    kind = Kind.SUFFIX
            else:
                parts.append("[^/]*")
                kind = Kind.REGEXP
        elif char == "?":
            parts.append("[^/]")
            kind = Kind.REGEXP
        elif char in _REGEX_ONLY_META:
            parts.append("\\" + char)
        elif char == "\\":
            if i < len(pattern):
                parts.append("\\" + pattern[i])
                i += 1
                kind = Kind.REGEXP
            else:
                parts.append("\\")
        elif char in "[]":
            parts.append(char)
            kind = Kind.REGEXP
        else:
            parts.append(char)
        step += 1
    parts.append("$")
    return kind, "".join(parts)


# ---------------------------------------------------------------------------
# Go regexp text -> Python regexp
#
# Only what patternmatcher can produce needs handling: literals, `\` escapes,
# classes, anchors, and its own `[^/]*`, `(.*/)?` and `.*` fragments. Classes are
# built as code-point ranges, as Go does, so Go's parse of odd text such as
# `[[^/]*]` (from the pattern `[*]`) carries over exactly.

_PERL_CLASSES: dict[str, Ranges] = {
    "d": [(0x30, 0x39)],
    "s": [(0x09, 0x0A), (0x0C, 0x0D), (0x20, 0x20)],
    "w": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
}

_POSIX_CLASSES: dict[str, Ranges] = {
    "alnum": [(0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A)],
    "alpha": [(0x41, 0x5A), (0x61, 0x7A)],
    "ascii": [(0x00, 0x7F)],
    "blank": [(0x09, 0x09), (0x20, 0x20)],
    "cntrl": [(0x00, 0x1F), (0x7F, 0x7F)],
    "digit": [(0x30, 0x39)],
    "graph": [(0x21, 0x7E)],
    "lower": [(0x61, 0x7A)],
    "print": [(0x20, 0x7E)],
    "punct": [(0x21, 0x2F), (0x3A, 0x40), (0x5B, 0x60), (0x7B, 0x7E)],
    "space": [(0x09, 0x0D), (0x20, 0x20)],
    "upper": [(0x41, 0x5A)],
    "word": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "xdigit": [(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
}

# Python's \B never matches an empty string; Go's does.
_NOT_WORD_BOUNDARY = "(?:(?<=\\w)(?=\\w)|(?<!\\w)(?!\\w))"
_C_ESCAPES = {"a": 0x07, "f": 0x0C, "n": 0x0A, "r": 0x0D, "t": 0x09, "v": 0x0B}
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


class _Unsupported(Exception):
    """Go accepts it, Python's re cannot express it (Unicode classes like \\pL)."""


def _complement(ranges: Ranges) -> Ranges:
    result: Ranges = []
    next_free = 0
    for low, high in sorted(ranges):
        if low > next_free:
            result.append((next_free, low - 1))
        next_free = max(next_free, high + 1)
    if next_free <= _MAX_RUNE:
        result.append((next_free, _MAX_RUNE))
    return result


def _class_regex(ranges: Ranges) -> str:
    if not ranges:
        return "[^\\x00-\\U0010ffff]"  # Go allows a class that matches nothing
    members = "".join(
        f"\\U{low:08x}" if low == high else f"\\U{low:08x}-\\U{high:08x}"
        for low, high in sorted(ranges)
    )
    return f"[{members}]"


class _GoRegexpTranslator:
    def __init__(self, source: str) -> None:
        self._source = source
        self._pos = 0

    def translate(self) -> str:
        source = self._source
        out: list[str] = []
        while self._pos < len(source):
            char = source[self._pos]
            if char == "[":
                out.append(_class_regex(self._parse_class()))
                continue
            if char == "\\":
                out.append(self._parse_top_escape())
                continue
            self._pos += 1
            if char == "^":
                out.append("\\A")
            elif char == "$":
                out.append("\\Z")
            elif char in "().*?":
                # Raw only in patternmatcher's own fragments: same meaning in Python.
                out.append(char)
            else:
                out.append(re.escape(char))
        return "".join(out)

    def _bad(self) -> BadPattern:
        return BadPattern(BAD_PATTERN, self._source)

    def _parse_top_escape(self) -> str:
        source, pos = self._source, self._pos
        following = source[pos + 1] if pos + 1 < len(source) else ""
        assertions = {"A": "\\A", "b": "\\b", "B": _NOT_WORD_BOUNDARY, "z": "\\Z"}
        if following in assertions:
            self._pos += 2
            return assertions[following]
        if following == "C":
            raise self._bad()
        if following == "Q":
            literal, _, _ = source[pos + 2 :].partition("\\E")
            end = source.find("\\E", pos + 2)
            self._pos = len(source) if end < 0 else end + 2
            return re.escape(literal)
        if following in ("p", "P"):
            raise _Unsupported(following)
        perl = self._perl_class()
        if perl is not None:
            return _class_regex(perl)
        return re.escape(chr(self._parse_escape()))

    def _perl_class(self) -> Ranges | None:
        source, pos = self._source, self._pos
        if pos + 1 >= len(source) or source[pos] != "\\" or source[pos + 1] not in "dDsSwW":
            return None
        name = source[pos + 1]
        self._pos += 2
        ranges = _PERL_CLASSES[name.lower()]
        return _complement(ranges) if name.isupper() else list(ranges)

    def _parse_escape(self) -> int:
        """One escaped character (Go's parseEscape); the position is at the `\\`."""
        source = self._source
        pos = self._pos + 1
        if pos >= len(source):
            raise self._bad()
        char = source[pos]
        pos += 1
        if char.isascii() and not char.isalnum():
            self._pos = pos
            return ord(char)
        if char in _OCTAL:
            # A lone \1-\7 would be a backreference, which Go refuses.
            if char != "0" and (pos >= len(source) or source[pos] not in _OCTAL):
                raise self._bad()
            value = int(char)
            for _ in range(2):
                if pos >= len(source) or source[pos] not in _OCTAL:
                    break
                value = value * 8 + int(source[pos])
                pos += 1
            self._pos = pos
            return value
        if char == "x":
            return self._parse_hex(pos)
        if char in _C_ESCAPES:
            self._pos = pos
            return _C_ESCAPES[char]
        raise self._bad()

    def _parse_hex(self, pos: int) -> int:
        source = self._source
        if source.startswith("{", pos):
            end = source.find("}", pos + 1)
            digits = source[pos + 1 : end] if end >= 0 else ""
            if not digits or any(d not in _HEX for d in digits) or int(digits, 16) > _MAX_RUNE:
                raise self._bad()
            self._pos = end + 1
            return int(digits, 16)
        digits = source[pos : pos + 2]
        if len(digits) != 2 or any(d not in _HEX for d in digits):
            raise self._bad()
        self._pos = pos + 2
        return int(digits, 16)

    def _parse_class(self) -> Ranges:
        """A `[...]` class as Go's parseClass reads it; the position is at the `[`."""
        source = self._source
        self._pos += 1
        negated = source.startswith("^", self._pos)
        if negated:
            self._pos += 1
        ranges: Ranges = []
        first = True  # a `]` straight after the `[` is a member
        while first or self._pos >= len(source) or source[self._pos] != "]":
            first = False
            pos = self._pos
            if source.startswith("[:", pos) and len(source) - pos > 2:
                end = source.find(":]", pos + 2)
                if end >= 0:
                    ranges.extend(self._posix_class(source[pos + 2 : end]))
                    self._pos = end + 2
                    continue
            if source.startswith(("\\p", "\\P"), pos):
                raise _Unsupported(source[pos : pos + 2])
            perl = self._perl_class()
            if perl is not None:
                ranges.extend(perl)
                continue
            low = self._class_char()
            high = low
            pos = self._pos
            if pos + 1 < len(source) and source[pos] == "-" and source[pos + 1] != "]":
                self._pos += 1
                high = self._class_char()
                if high < low:
                    raise self._bad()
            ranges.append((low, high))
        self._pos += 1
        return _complement(ranges) if negated else ranges

    def _posix_class(self, name: str) -> Ranges:
        negated = name.startswith("^")
        ranges = _POSIX_CLASSES.get(name.removeprefix("^"))
        if ranges is None:
            raise self._bad()
        return _complement(ranges) if negated else list(ranges)

    def _class_char(self) -> int:
        source = self._source
        if self._pos >= len(source):
            raise self._bad()  # Go: missing closing ]
        if source[self._pos] == "\\":
            return self._parse_escape()
        self._pos += 1
        return ord(source[self._pos - 1])


def compile_regexp(source: str) -> re.Pattern[str] | BadPattern:
    try:
        translated = _GoRegexpTranslator(source).translate()
    except BadPattern as error:
        return error
    except _Unsupported as unsupported:
        return BadPattern(
            f"unsupported escape {unsupported} in pattern (Go-only Unicode class)", source
        )
    # ASCII: Go's \b is an ASCII word boundary; every class is spelled out as ranges.
    return re.compile(translated, re.ASCII)


# --- filepath.Match itself (COPY and ADD wildcards) ----------------------------

_MATCH_CACHE: dict[str, re.Pattern[str] | None] = {}


def match(pattern: str, name: str) -> bool:
    """Go's filepath.Match; a bad pattern matches nothing (dockerd drops
    the error)."""
    if pattern not in _MATCH_CACHE:
        _MATCH_CACHE[pattern] = _compile_match(pattern)
    compiled = _MATCH_CACHE[pattern]
    return compiled is not None and compiled.fullmatch(name) is not None


def _compile_match(pattern: str) -> re.Pattern[str] | None:
    try:
        check_match_syntax(pattern)
    except BadPattern:
        return None
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            i += 1
            out.append(re.escape(pattern[i]))
        elif char == "[":
            i, text = _match_class(pattern, i + 1)
            out.append(text)
            continue
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _match_class(pattern: str, i: int) -> tuple[int, str]:
    # Syntax already checked: members are chars or lo-hi ranges up to `]`.
    negate = pattern[i] == "^"
    i += negate
    members: list[str] = []
    while pattern[i] != "]" or not members:
        low, i = _class_char(pattern, i)
        high = low
        if pattern[i] == "-":
            high, i = _class_char(pattern, i + 1)
        members.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")
    body = "".join(members)
    return i + 1, f"[{'^' if negate else ''}{body}]"


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if pattern[i] == "\\":
        i += 1
    return pattern[i], i + 1
