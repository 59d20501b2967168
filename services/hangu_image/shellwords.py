"""Docker's build-time variable expansion and word splitting, as moby's
classic builder does it with buildkit's `shell.Lex`: `$V`, `${V}`, the
`${V:-w}` `${V-w}` `${V:+w}` `${V+w}` `${V:?w}` `${V?w}` modifiers, the
`${V#p}` `${V##p}` `${V%p}` `${V%%p}` trims and `${V/p/r}` `${V//p/r}`
replacements, the escape character (`\\` or the Dockerfile's `# escape=`),
and single and double quotes, which are removed as a shell would.

Which instructions expand, and how, is `expansion_mode()`: the builder never
expands RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK, MAINTAINER or ONBUILD text
(a shell does that at run time, and an ONBUILD trigger expands when it runs).

The Go-compatible helpers (`go_quote`, `is_go_space`) live here too: Docker's
messages quote with Go's `%q`, and Go's idea of white space decides where
words split."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from hangu_runtime.errors import InvalidArgument
from hangu_runtime.gotext import go_quote

DEFAULT_ESCAPE = "\\"

# The scanner's end-of-input marker. Go's scanner returns the rune -1 there,
# and `string(rune(-1))` in an error message prints as U+FFFD.
_EOF = ""
_EOF_IN_MESSAGE = "\ufffd"

# Go's unicode.IsSpace: Latin-1 spaces plus Unicode White_Space. Python's
# str.isspace() also counts U+001C..U+001F, which Docker does not split on.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_GO_SPACE_SET = frozenset(GO_SPACE)

# POSIX special parameters: `$@`, `${?}`, ... name exactly one character.
_SPECIAL_PARAMETERS = frozenset("@*#?-$!0")

ExpansionMode = Literal["none", "word", "words"]

# moby: the commands implementing SupportsSingleWordExpansion, FROM's base
# name (against the meta args), and EXPOSE, the one that splits into words.
_EXPANSION: dict[str, ExpansionMode] = {
    "ADD": "word",
    "ARG": "word",
    "COPY": "word",
    "ENV": "word",
    "FROM": "word",
    "LABEL": "word",
    "STOPSIGNAL": "word",
    "USER": "word",
    "VOLUME": "word",
    "WORKDIR": "word",
    "EXPOSE": "words",
}


def expansion_mode(keyword: str) -> ExpansionMode:
    """How the builder expands an instruction's arguments: `"word"` (each
    argument with `process_word`), `"words"` (EXPOSE: each argument with
    `process_words`, so `$PORTS` can become several ports) or `"none"`.

    RUN only expands its `--mount` options, never its command; COPY and ADD
    expand sources, destination, `--chown` and `--chmod` (and ADD
    `--checksum`), not COPY's `--from`."""
    return _EXPANSION.get(keyword.upper(), "none")


def expands_variables(keyword: str) -> bool:
    """Whether the builder substitutes variables in this instruction."""
    return expansion_mode(keyword) != "none"


def is_go_space(ch: str) -> bool:
    """Go's unicode.IsSpace for one character."""
    return ch in _GO_SPACE_SET


def env_from_list(env: Iterable[str]) -> dict[str, str]:
    """`["K=v", ...]` (a config's Env) as a mapping; later entries win and a
    bare `K` is set to the empty string, as moby's EnvsFromSlice."""
    result: dict[str, str] = {}
    for entry in env:
        key, _, value = entry.partition("=")
        result[key] = value
    return result


class ShellWordError(InvalidArgument):
    """A word Docker refuses to expand. `message` is Docker's full text,
    `failed to process "<word>": <reason>`; `reason` is the part after it."""

    def __init__(self, word: str, reason: str) -> None:
        super().__init__(f"failed to process {go_quote(word)}: {reason}")
        self.word = word
        self.reason = reason


class _Refused(Exception):
    """Raised inside one expansion; becomes a ShellWordError at the top."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WordResult:
    """One processed word: the expanded text, the same split into words, and
    which variable names were found or missing in the environment."""

    result: str
    words: tuple[str, ...]
    matched: frozenset[str]
    unmatched: frozenset[str]


@dataclass(frozen=True)
class Lex:
    """Docker's word processor with an escape character. The flags match
    shell.Lex's: `raw_quotes` keeps quote characters, `raw_escapes` keeps
    escape characters, `skip_unset_env` leaves unknown `$V` as written, and
    `skip_process_quotes` treats quotes as ordinary characters. The parser
    uses them to find heredoc words; the builder uses the defaults."""

    escape: str = DEFAULT_ESCAPE
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset_env: bool = False
    skip_process_quotes: bool = False

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        """`word` with variables expanded and quotes removed, spaces kept."""
        return self.process(word, env).result

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        """`word` expanded, then split on unquoted white space (spaces that
        came from a variable's value split too, as in a shell)."""
        return list(self.process(word, env).words)

    def process(self, word: str, env: Mapping[str, str]) -> WordResult:
        """Both forms at once, with the names that were and weren't set."""
        expansion = _Expansion(self, word, env)
        try:
            result, words = expansion.until(_EOF, self.raw_escapes)
        except _Refused as refused:
            raise ShellWordError(word, refused.reason) from None
        return WordResult(
            result, tuple(words), frozenset(expansion.matched), frozenset(expansion.unmatched)
        )


def process_word(word: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE) -> str:
    """moby's ProcessWord with the builder's default options."""
    return Lex(escape).process_word(word, env)


def process_words(word: str, env: Mapping[str, str], escape: str = DEFAULT_ESCAPE) -> list[str]:
    """moby's ProcessWords with the builder's default options."""
    return Lex(escape).process_words(word, env)


class _Words:
    """Splits the expansion into words as it is produced: characters from
    the source or a variable split on white space; quoted or escaped text is
    added raw and never splits."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.current: list[str] = []
        self.in_word = False

    def add(self, ch: str) -> None:
        if not is_go_space(ch):
            self.add_raw(ch)
        elif self.in_word and self.current:
            self.words.append("".join(self.current))
            self.current = []
            self.in_word = False

    def add_raw(self, text: str) -> None:
        if text:
            self.current.append(text)
        self.in_word = True

    def add_split(self, text: str) -> None:
        for ch in text:
            self.add(ch)

    def finish(self) -> list[str]:
        # An empty quoted word (`""`) leaves nothing behind, as in moby.
        if self.current:
            self.words.append("".join(self.current))
            self.current = []
            self.in_word = False
        return self.words


class _Expansion:
    """The scan of one word: a cursor over the text and the lookups made."""

    def __init__(self, lex: Lex, text: str, env: Mapping[str, str]) -> None:
        self.lex = lex
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lex.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to `stop` (consumed) or, with `_EOF`, to the end."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _special(self, ch: str) -> Callable[[], str] | None:
        if ch == "$":
            return self.dollar
        if ch == "<":
            return self.possible_heredoc
        if not self.lex.skip_process_quotes:
            if ch == "'":
                return self.single_quoted
            if ch == '"':
                return self.double_quoted
        return None

    def _until(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        escape = self.lex.escape
        while self.peek() != _EOF:
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.finish()
            handler = self._special(ch)
            if handler is not None:
                text = handler()
                result.append(text)
                # A variable's value splits into words; quoted text doesn't.
                if ch == "$":
                    words.add_split(text)
                else:
                    words.add_raw(text)
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    result.append(ch)
                ch = self.next()
                if ch == _EOF:
                    # A lone escape at the very end is dropped.
                    break
                words.add_raw(ch)
            else:
                words.add(ch)
            result.append(ch)
        if stop:
            raise _Refused(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.finish()

    def single_quoted(self) -> str:
        # Everything up to the next ' is literal; nothing escapes inside.
        out: list[str] = []
        opening = self.next()
        if self.lex.raw_quotes:
            out.append(opening)
        while True:
            ch = self.next()
            if ch == _EOF:
                raise _Refused(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.lex.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quoted(self) -> str:
        # Variables expand; the escape character only escapes ", $ and
        # itself, and is kept literally before anything else.
        out: list[str] = []
        escape = self.lex.escape
        opening = self.next()
        if self.lex.raw_quotes:
            out.append(opening)
        while True:
            ahead = self.peek()
            if ahead == _EOF:
                raise _Refused(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ahead == '"':
                closing = self.next()
                if self.lex.raw_quotes:
                    out.append(closing)
                return "".join(out)
            if ahead == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == escape:
                if self.raw_escapes:
                    out.append(ch)
                ahead = self.peek()
                if ahead == _EOF:
                    continue
                if ahead in ('"', "$", escape):
                    ch = self.next()
            out.append(ch)

    def possible_heredoc(self) -> str:
        # `<<` keeps the blanks after it attached, so `<< EOF` stays one word.
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        blanks: list[str] = []
        while self.peek() in ("\t", "\r", " "):
            blanks.append(self.next())
        return "<<" + "".join(blanks)

    def name(self) -> str:
        """A variable name: digits (positional), one special parameter, or
        letters, digits and underscores."""
        chars: list[str] = []
        while self.peek() != _EOF:
            ch = self.peek()
            if not chars and ch.isdecimal():
                while self.peek() != _EOF and self.peek().isdecimal():
                    chars.append(self.next())
                return "".join(chars)
            if not chars and ch in _SPECIAL_PARAMETERS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            chars.append(self.next())
        return "".join(chars)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.lex.skip_unset_env:
                return "$" + name
            return value

        self.next()
        ahead = self.peek()
        if ahead == _EOF:
            raise _Refused("syntax error: missing '}'")
        if ahead in ("{", "}", ":"):
            raise _Refused("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        modifier = ch or _EOF_IN_MESSAGE

        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.lex.skip_unset_env:
                return "${" + name + "}"
            return value
        if ch == ":" or ch in ("+", "-", "?", "#", "%"):
            return self._modified(name, ch, modifier)
        if ch == "/":
            return self._replaced(name)
        raise _Refused(f"unsupported modifier ({modifier}) in substitution")

    def _modified(self, name: str, ch: str, modifier: str) -> str:
        null_is_unset = ch == ":"
        if null_is_unset:
            ch = self.next()
            modifier += ch or _EOF_IN_MESSAGE
        # Trim patterns keep their escapes so `\*` stays a literal star.
        trims = ch in ("#", "%")
        if null_is_unset and trims:
            raise _Refused(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.until("}", trims)
        except _Refused:
            if self.peek() == _EOF:
                raise _Refused("syntax error: missing '}'") from None
            raise

        value, found = self.lookup(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + modifier + word + "}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise _Refused(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _Refused(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            # One `#`/`%` removes the shortest match, a doubled one the longest.
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise _Refused(f"unsupported modifier ({modifier}) in substitution")

    def _replaced(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.until("/", True)
        except _Refused:
            if self.peek() == _EOF:
                raise _Refused("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.until("}", True)
        except _Refused:
            if self.peek() == _EOF:
                raise _Refused("syntax error: missing '}'") from None
            raise

        value, found = self.lookup(name)
        if self.lex.skip_unset_env and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return _replace_all(regex, value, replacement)
        match = regex.search(value)
        if match is None:
            return value
        return value[: match.start()] + replacement + value[match.end() :]


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell glob (`*`, `?`, `\\` escapes; no brackets) as a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        tok = pattern[i]
        i += 1
        if tok == "*":
            out.append(star)
            continue
        if tok == "?":
            out.append(".")
            continue
        if tok == "\\":
            ahead = pattern[i] if i < len(pattern) else _EOF
            # `\}` and `\/` only protected the ${...} syntax: not part of the glob.
            if ahead in ("}", "/"):
                continue
            i += 1
            if ahead not in ("*", "?", "\\"):
                shown = ahead or _EOF_IN_MESSAGE
                raise _Refused(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{shown}'"
                )
            tok = ahead
        out.append(re.escape(tok))
    return re.compile("".join(out))


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end() :] if match else value


def _reverse_pattern(pattern: str) -> str:
    # Reversed, but each `\x` escape stays in front of its character.
    out = [""] * len(pattern)
    last = len(pattern) - 1
    i = 0
    while i <= last:
        tok = pattern[i]
        if tok == "\\" and i != last:
            out[last - i - 1] = tok
            out[last - i] = pattern[i + 1]
            i += 2
        else:
            out[last - i] = tok
            i += 1
    return "".join(out)


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex can't find the shortest match anchored at the end, so search
    # the reversed value with the reversed pattern from the start instead.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _replace_all(regex: re.Pattern[str], value: str, replacement: str) -> str:
    """Go's Regexp.ReplaceAllString: `$0`/`${0}` is the match, `$$` a dollar,
    and an empty match right after a match is not replaced (Python's re.sub
    would replace it)."""
    out: list[str] = []
    last_end = 0
    search_from = 0
    while search_from <= len(value):
        match = regex.search(value, search_from)
        if match is None:
            break
        start, end = match.span()
        out.append(value[last_end:start])
        if end > last_end or start == 0:
            out.append(_expand_template(replacement, match.group(0)))
        last_end = end
        search_from = search_from + 1 if search_from + 1 > end else end
    out.append(value[last_end:])
    return "".join(out)


def _template_reference(text: str) -> tuple[int, str] | None:
    """The group named after a `$` in a Go replacement template: its number
    (-1 for a name) and the rest of the template; None if malformed."""
    braced = text.startswith("{")
    if braced:
        text = text[1:]
    length = 0
    while length < len(text) and (
        text[length].isalpha() or text[length].isdecimal() or text[length] == "_"
    ):
        length += 1
    if length == 0:
        return None
    name = text[:length]
    if braced:
        if length >= len(text) or text[length] != "}":
            return None
        length += 1
    number = -1
    if name.isascii() and name.isdigit() and (name == "0" or not name.startswith("0")):
        number = int(name)
    return number, text[length:]


def _expand_template(template: str, whole_match: str) -> str:
    # The converted globs have no capture groups: only group 0 exists.
    out: list[str] = []
    rest = template
    while True:
        before, dollar, after = rest.partition("$")
        if not dollar:
            break
        out.append(before)
        rest = after
        if rest.startswith("$"):
            out.append("$")
            rest = rest[1:]
            continue
        reference = _template_reference(rest)
        if reference is None:
            out.append("$")
            continue
        number, rest = reference
        if number == 0:
            out.append(whole_match)
    out.append(rest)
    return "".join(out)
