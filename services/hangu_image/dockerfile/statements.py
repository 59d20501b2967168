"""A Dockerfile's text into statements, as moby's parser reads it: parser
directives, comments, line continuations, heredocs, then one statement's
keyword, flags and the argument form its keyword takes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hangu_image.shellwords import GO_SPACE, Lex, ShellWordError, is_go_space
from hangu_runtime.gotext import go_quote

from .errors import Refusal
from .model import DEFAULT_ESCAPE, Heredoc

# bufio.Scanner's buffer in moby's parser (bufio.MaxScanTokenSize).
_MAX_LINE_BYTES = 64 * 1024
# Go's `\s` in moby's regular expressions (no \v, unlike unicode.IsSpace).
RE_SPACE = r"[\t\n\f\r ]"
_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_DIRECTIVE = re.compile(rf"([a-zA-Z][a-zA-Z0-9]*){RE_SPACE}*={RE_SPACE}*(.+?){RE_SPACE}*")
_KNOWN_DIRECTIVES = ("syntax", "escape", "check")
_HEREDOC = re.compile(rf"([0-9]*)<<(-?){RE_SPACE}*([^<]*)")


# --- statements: lines, directives, continuations, heredocs ------------------


class LocatedRefusal(Exception):
    def __init__(self, reason: str, line: int, end_line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line
        self.end_line = line if end_line is None else end_line


@dataclass
class Statement:
    """One statement split the way moby's line parsers split it (its AST
    node): `args` are the node values, ENV/LABEL as key, value, separator."""

    keyword: str
    original: str
    flags: list[str]
    args: list[str]
    exec_form: bool = False
    nested: Statement | None = None
    heredocs: list[Heredoc] = field(default_factory=list)
    start_line: int = 0
    end_line: int = 0


@dataclass
class ParsedStatements:
    statements: list[Statement]
    directives: dict[str, str]
    escape: str
    warnings: tuple[str, ...]


class _Lines:
    """Physical lines with their newline, stopping where Docker's scanner
    stops: at the end, or at a line too long for it."""

    def __init__(self, text: str) -> None:
        parts = text.removeprefix("\ufeff").split("\n")
        self._lines = [part + "\n" for part in parts[:-1]]
        if parts[-1]:
            self._lines.append(parts[-1])
        self._next = 0
        self.too_long = False
        self.number = 0  # lines consumed so far

    def next(self) -> str | None:
        if self.too_long or self._next >= len(self._lines):
            return None
        line = self._lines[self._next]
        if len(line) >= _MAX_LINE_BYTES // 4 and _too_long(line):
            self.too_long = True
            return None
        self._next += 1
        self.number += 1
        return line


def _too_long(line: str) -> bool:
    # Go's scanner needs the line and its newline in a 64 KiB buffer, so
    # at most 65535 bytes before the newline (or the end of the file).
    return len(line.removesuffix("\n").encode("utf-8", "surrogatepass")) >= _MAX_LINE_BYTES


class _Directives:
    """Parser directives: only in the leading run of `# key=value` comments."""

    def __init__(self) -> None:
        self.done = False
        self.values: dict[str, str] = {}
        self.escape = DEFAULT_ESCAPE

    def read(self, line: str) -> None:
        if self.done:
            return
        if not line.startswith("#"):
            self.done = True
            return
        match = _DIRECTIVE.fullmatch(line[1:].lstrip(GO_SPACE))
        key = match.group(1).lower() if match else ""
        if match is None or key not in _KNOWN_DIRECTIVES:
            # Any other comment ends the directives.
            self.done = True
            return
        if key in self.values:
            raise Refusal(f"only one {key} parser directive can be used")
        value = match.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise Refusal(f"invalid escape token '{value}' does not match ` or \\")
            self.escape = value
        self.values[key] = value


def _is_comment(line: str) -> bool:
    return line.lstrip(GO_SPACE).startswith("#")


def _trim_continuation(line: str, escape: str) -> tuple[str, bool]:
    """The line without a trailing escape character (and the blanks after
    it), and whether the statement ends here. An escape preceded by another
    escape is not a continuation."""
    body = line.rstrip(" \t")
    if body.endswith(escape) and (len(body) == 1 or body[-2] != escape):
        return body[:-1], False
    return line, True


def parse_statements(text: str) -> ParsedStatements:
    lines = _Lines(text)
    directives = _Directives()
    statements: list[Statement] = []
    warnings: list[str] = []

    def prepared(raw: str, strip_left: bool) -> str:
        token = raw.rstrip("\r\n")
        if strip_left:
            token = token.lstrip(GO_SPACE)
        try:
            directives.read(token)
        except Refusal as refusal:
            raise LocatedRefusal(refusal.reason, lines.number) from None
        return "" if _is_comment(token) else token

    while (raw := lines.next()) is not None:
        start = lines.number
        first, ended = _trim_continuation(prepared(raw, True), directives.escape)
        if ended and not first:
            continue  # blank line or comment
        parts = [first]
        skipped_empty = False
        while not ended and (raw := lines.next()) is not None:
            part = prepared(raw, False)
            # Docker drops comment lines and empty lines inside a continuation.
            if _is_comment(raw):
                continue
            if not part.lstrip(GO_SPACE):
                skipped_empty = True
                continue
            part, ended = _trim_continuation(part, directives.escape)
            parts.append(part)
        line = "".join(parts)
        if skipped_empty:
            warnings.append("Empty continuation line found in: " + line)
        try:
            statement = _statement_from_line(line, directives.escape)
            if "<<" in line and _may_have_heredocs(statement):
                _read_heredocs(statement, line, lines)
        except Refusal as refusal:
            raise LocatedRefusal(refusal.reason, start, lines.number) from None
        statement.start_line, statement.end_line = start, lines.number
        statements.append(statement)

    if not statements:
        raise LocatedRefusal("file with no instructions", lines.number)
    if lines.too_long:
        raise LocatedRefusal(
            f"dockerfile line greater than max allowed size of {_MAX_LINE_BYTES - 1}", lines.number
        )
    return ParsedStatements(statements, directives.values, directives.escape, tuple(warnings))


def _may_have_heredocs(statement: Statement) -> bool:
    target = statement
    if statement.keyword.lower() == "onbuild" and statement.nested is not None:
        target = statement.nested
    return target.keyword.lower() in ("add", "copy", "run") and not target.exec_form


def _read_heredocs(statement: Statement, line: str, lines: _Lines) -> None:
    for heredoc in _heredocs_in_line(line):
        content: list[str] = []
        while (raw := lines.next()) is not None:
            candidate = raw.rstrip("\r\n")
            if heredoc.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == heredoc.name:
                break
            content.append(raw)
        else:
            raise Refusal("unterminated heredoc")
        statement.heredocs.append(
            Heredoc(heredoc.name, "".join(content), heredoc.expand, heredoc.chomp, heredoc.fd)
        )


def _heredocs_in_line(line: str) -> list[Heredoc]:
    # Heredoc words are found with a raw lexer over the whole statement;
    # a statement it can't lex simply has none.
    lexer = Lex(raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    try:
        words = lexer.process_words(line, {})
    except ShellWordError:
        return []
    found: list[Heredoc] = []
    for word in words:
        heredoc = _heredoc_word(word)
        if heredoc is not None:
            found.append(heredoc)
    return found


def _heredoc_word(word: str) -> Heredoc | None:
    """The heredoc a word such as `<<-"EOF"` opens (empty content), or None."""
    match = _HEREDOC.fullmatch(word)
    if match is None or not match.group(3):
        return None
    rest = match.group(3)
    try:
        words = Lex(skip_unset_env=True).process_words(rest, {})
        if len(words) != 1:
            return None
        raw_words = Lex(raw_quotes=True, skip_unset_env=True).process_words(rest, {})
    except ShellWordError as error:
        raise Refusal(error.message) from None
    if len(raw_words) != len(words):
        raise Refusal(f"internal lexing of heredoc produced inconsistent results: {rest}")
    # Quoting any part of the word (`<<"EOF"`, `<<E'O'F`) turns expansion off.
    quotes = words[0].count("'") + words[0].count('"')
    raw_quotes = raw_words[0].count("'") + raw_words[0].count('"')
    return Heredoc(
        name=words[0],
        content="",
        expand=quotes == raw_quotes,
        chomp=match.group(2) == "-",
        fd=int(match.group(1) or "0"),
    )


def maybe_heredoc_word(word: str) -> Heredoc | None:
    try:
        return _heredoc_word(word)
    except Refusal:
        return None


# --- one statement: keyword, flags, and the keyword's argument form ----------


@dataclass
class _Args:
    values: list[str]
    exec_form: bool = False
    nested: Statement | None = None


def _statement_from_line(line: str, escape: str) -> Statement:
    keyword, flags, rest = _split_command(line, escape)
    line_parser = _LINE_PARSERS.get(keyword.lower(), _no_arguments)
    parsed = line_parser(rest, escape)
    return Statement(keyword, line, flags, parsed.values, parsed.exec_form, parsed.nested)


def _split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(line.strip(GO_SPACE), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _extract_flags(parts[1], escape)
    return parts[0], flags, rest.strip(GO_SPACE)


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading `--name[=value]` words (quotes and escapes removed) and the
    rest of the line; a bare `--` ends the flags."""
    flags: list[str] = []
    word: list[str] = []
    quote = ""
    blank_ok = False
    in_word = in_quote = False
    pos, end = 0, len(line)
    while True:
        if not in_word and not in_quote:
            while pos < end and is_go_space(line[pos]):
                pos += 1
            if pos == end:
                return "", flags
            if not line.startswith("--", pos):
                return line[pos:], flags
            in_word = True
        if pos == end:
            text = "".join(word)
            if text != "--" and (blank_ok or text):
                flags.append(text)
            return "", flags
        ch = line[pos]
        pos += 1
        if in_quote:
            if ch == quote:
                in_quote, in_word = False, True
                continue
            if ch == escape:
                if pos == end:
                    in_quote, in_word = False, True
                    continue
                ch = line[pos]
                pos += 1
            word.append(ch)
            continue
        if is_go_space(ch):
            text = "".join(word)
            in_word = False
            if text == "--":
                return line[pos - 1 :], flags
            if blank_ok or text:
                flags.append(text)
            word, blank_ok = [], False
            continue
        if ch in ("'", '"'):
            quote, blank_ok = ch, True
            in_quote, in_word = True, False
            continue
        if ch == escape:
            if pos == end:
                continue
            ch = line[pos]
            pos += 1
        word.append(ch)


def _parse_words(rest: str, escape: str) -> list[str]:
    """moby's parseWords: blank-separated words, quotes and escapes kept
    (they are removed when the builder expands the words)."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    blank_ok = False
    in_word = in_quote = False
    pos, end = 0, len(rest)
    while True:
        if not in_word and not in_quote:
            while pos < end and is_go_space(rest[pos]):
                pos += 1
            if pos == end:
                return words
            in_word = True
        if pos == end:
            if blank_ok or word:
                words.append("".join(word))
            return words
        ch = rest[pos]
        pos += 1
        if in_quote:
            if ch == quote:
                in_quote, in_word = False, True
            # Nothing escapes inside single quotes.
            if ch == escape and quote != "'":
                if pos == end:
                    in_quote, in_word = False, True
                    continue
                word.append(ch)
                ch = rest[pos]
                pos += 1
            word.append(ch)
            continue
        if is_go_space(ch):
            in_word = False
            if blank_ok or word:
                words.append("".join(word))
            word, blank_ok = [], False
            continue
        if ch in ("'", '"'):
            quote, blank_ok = ch, True
            in_quote, in_word = True, False
        if ch == escape:
            if pos == end:
                continue  # an escape at the very end is dropped
            word.append(ch)
            ch = rest[pos]
            pos += 1
        word.append(ch)


def _no_arguments(rest: str, escape: str) -> _Args:
    # Unknown instructions keep no arguments; they are refused later.
    return _Args([])


def _nested(rest: str, escape: str) -> _Args:
    if not rest:
        return _Args([])
    nested = _statement_from_line(rest, escape)
    return _Args([nested.keyword, *nested.args], nested=nested)


def _name_values(keyword: str) -> Callable[[str, str], _Args]:
    def parse_pairs(rest: str, escape: str) -> _Args:
        words = _parse_words(rest, escape)
        if not words:
            return _Args([])
        # `KEY name value` (legacy) when the first word has no `=`.
        if "=" not in words[0]:
            parts = _WHITESPACE.split(rest, maxsplit=1)
            if len(parts) < 2:
                raise Refusal(f"{keyword} must have two arguments")
            return _Args([parts[0], parts[1], ""])
        values: list[str] = []
        for word in words:
            if "=" not in word:
                raise Refusal(
                    f"Syntax error - can't find = in {go_quote(word)}. "
                    "Must be of the form: name=value"
                )
            key, _, value = word.partition("=")
            values += [key, value, "="]
        return _Args(values)

    return parse_pairs


def _names_or_pairs(rest: str, escape: str) -> _Args:
    return _Args(_parse_words(rest, escape))


def _blank_separated(rest: str, escape: str) -> _Args:
    return _Args(_WHITESPACE.split(rest) if rest else [])


def _whole(rest: str, escape: str) -> _Args:
    return _Args([rest] if rest else [])


class _NotJSON(Exception):
    pass


def _reject_constant(name: str) -> float:
    raise _NotJSON(name)  # NaN and Infinity are not JSON to Go


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _NotJSON(text)  # Go can't decode it into a float64
    return value


def _json_array(rest: str) -> list[str] | None:
    """The strings of a JSON array, or None when `rest` isn't one; an array
    holding anything but strings is an error, not a shell form."""
    text = rest.lstrip(GO_SPACE)
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError, _NotJSON):
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise Refusal("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _maybe_json(rest: str, escape: str) -> _Args:
    if not rest:
        return _Args([])
    array = _json_array(rest)
    return _Args([rest]) if array is None else _Args(array, exec_form=True)


def _maybe_json_list(rest: str, escape: str) -> _Args:
    array = _json_array(rest)
    return _blank_separated(rest, escape) if array is None else _Args(array, exec_form=True)


def _health_config(rest: str, escape: str) -> _Args:
    sep = 0
    while sep < len(rest) and not is_go_space(rest[sep]):
        sep += 1
    if sep == 0:
        return _Args([])
    command_start = sep
    while command_start < len(rest) and is_go_space(rest[command_start]):
        command_start += 1
    command = _maybe_json(rest[command_start:], escape)
    return _Args([rest[:sep], *command.values], exec_form=command.exec_form)


_LINE_PARSERS: dict[str, Callable[[str, str], _Args]] = {
    "add": _maybe_json_list,
    "arg": _names_or_pairs,
    "cmd": _maybe_json,
    "copy": _maybe_json_list,
    "entrypoint": _maybe_json,
    "env": _name_values("ENV"),
    "expose": _blank_separated,
    "from": _blank_separated,
    "healthcheck": _health_config,
    "label": _name_values("LABEL"),
    "maintainer": _whole,
    "onbuild": _nested,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _whole,
    "user": _whole,
    "volume": _maybe_json_list,
    "workdir": _whole,
}
