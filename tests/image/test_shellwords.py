"""Docker's build-time variable expansion (shell.Lex), checked against the
Dockerfile reference's examples and moby's own answers."""

from __future__ import annotations

import pytest

from hangu_image.shellwords import (
    Lex,
    ShellWordError,
    env_from_list,
    expands_variables,
    expansion_mode,
    go_quote,
    process_word,
    process_words,
)

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


@pytest.mark.parametrize(
    "word,expected",
    [
        # Plain words, quotes and escapes.
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("he\\'llo", "he'llo"),
        ("abc\\tdef", "abctdef"),
        ('"abc\\tdef"', "abc\\tdef"),
        ('"abc\\\\tdef"', "abc\\tdef"),
        ("'abc\\tdef'", "abc\\tdef"),
        ("hello\\", "hello"),
        ("hello\\\\", "hello\\"),
        ('"hel\'lo"', "hel'lo"),
        ("'hello\\'", "hello\\"),
        ("\"''\"", "''"),
        ("'\"hello\"'", '"hello"'),
        ("안'녕'하세요", "안녕하세요"),
        # $V and ${V}; unknown variables are empty.
        ("he$PWD", "he/home"),
        ("he${PWD}", "he/home"),
        ("he${hi}xx", "hexx"),
        ("he$pwd.", "he."),
        ("$.", "$."),
        ("he$.x", "he$.x"),
        ("$KOREAN", "한국어"),
        # Escaped dollars stay literal, in and out of double quotes.
        ("he\\$PWD", "he$PWD"),
        ("he\\\\$PWD", "he\\/home"),
        ('"he\\$PWD"', "he$PWD"),
        ("\\${}", "${}"),
        ("he${XXX:-\\$PWD:}xx", "he$PWD:xx"),
        ("he${XXX:-\\${PWD}z}xx", "he${PWDz}xx"),
        # Quotes: single quotes keep everything, double quotes expand.
        ("'he${XX}'", "he${XX}"),
        ('"he${PWD}"', "he/home"),
        ("\"he'$PWD'\"", "he'/home'"),
        ("'$PWD'", "$PWD"),
        ("'\\$PWD'", "\\$PWD"),
        # Positional and special parameters are never set.
        ("he$1x", "hex"),
        ("$999aaa", "aaa"),
        ("${001:-bbb}aaa", "bbbaaa"),
        ("$@@@", "@@"),
        ("${#:+bbb}", ""),
        ("${$:-bbb}", "bbb"),
        ("${aaa}}", "}"),
        ("${aaa:-bbb {foo}", "bbb {foo"),
    ],
)
def test_process_word(word: str, expected: str) -> None:
    assert process_word(word, ENV) == expected


@pytest.mark.parametrize(
    "word,env,expected",
    [
        # The reference's four standard modifiers.
        ("${V:-word}", {"V": "set"}, "set"),
        ("${V:-word}", {"V": ""}, "word"),
        ("${V:-word}", {}, "word"),
        ("${V-word}", {"V": ""}, ""),
        ("${V-word}", {}, "word"),
        ("${V:+word}", {"V": "set"}, "word"),
        ("${V:+word}", {"V": ""}, ""),
        ("${V+word}", {"V": ""}, "word"),
        ("${V+word}", {}, ""),
        ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc"),
        ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc"),
        ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb "),
        ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  "),
        ("he${XXX:-${PWD:-yyy}}xx", ENV, "he/homexx"),
        ("he${PWD:+${SHELL}}xx", ENV, "hebashxx"),
        ("he${PWD:+${PWD}:}xx", ENV, "he/home:xx"),
        ("${V?msg}", {"V": ""}, ""),
        ("${V:?msg}", {"V": "x"}, "x"),
        # The reference's pattern examples.
        ("${str#f*b}", {"str": "foobarbaz"}, "arbaz"),
        ("${str##f*b}", {"str": "foobarbaz"}, "az"),
        ("${string%b*}", {"string": "foobarbaz"}, "foobar"),
        ("${string%%b*}", {"string": "foobarbaz"}, "foo"),
        ("${string/ba/fo}", {"string": "foobarbaz"}, "fooforbaz"),
        ("${string//ba/fo}", {"string": "foobarbaz"}, "fooforfoz"),
        # Globs: `?`, `*`, escaped wildcards and regex characters.
        ("${FOO#?\\?}", {"FOO": "???y"}, "?y"),
        ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a"),
        ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x"),
        ("${FOO#*}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy"),
        ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy."),
        (
            "${FOO/$N/.} - ${FOO//$N/.}",
            {"FOO": "/foo*/*/*.txt", "N": "\\*/"},
            "/foo.*/*.txt - /foo..*.txt",
        ),
        (
            "${FOO/$N/} - ${FOO//$N/}",
            {"FOO": "/tmp/tmp/bar.txt", "N": "/tmp"},
            "/tmp/bar.txt - /bar.txt",
        ),
        ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
        ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
        ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
        # `//` replaces with a Go template: $0 is the match, $$ a dollar.
        ("${A//b/$R}", {"A": "abcb", "R": "<$0>"}, "a<b>c<b>"),
        ("${A//b/$R}", {"A": "abc", "R": "$$"}, "a$c"),
        ("${A//*/-}", {"A": "abc"}, "-"),
        ("${A/b/$R}", {"A": "abc", "R": "<$0>"}, "a<$0>c"),
        (
            "pkg-${V}.${OS}-${ARCH}${VARIANT:+-${VARIANT}}.tgz",
            {"V": "1.2", "OS": "linux", "ARCH": "arm64", "VARIANT": ""},
            "pkg-1.2.linux-arm64.tgz",
        ),
    ],
)
def test_modifiers(word: str, env: dict[str, str], expected: str) -> None:
    assert process_word(word, env) == expected


@pytest.mark.parametrize(
    "word,message",
    [
        ("he${NULL:?}", 'failed to process "he${NULL:?}": NULL: is not allowed to be empty'),
        ("${XXX?}", 'failed to process "${XXX?}": XXX: is not allowed to be unset'),
        ("${XXX:?oops}", 'failed to process "${XXX:?oops}": XXX: oops'),
        ("${aaa:-bbb", "failed to process \"${aaa:-bbb\": syntax error: missing '}'"),
        ("${", "failed to process \"${\": syntax error: missing '}'"),
        ("${{aaa}", 'failed to process "${{aaa}": syntax error: bad substitution'),
        ("he${}", 'failed to process "he${}": syntax error: bad substitution'),
        ("${:-bbb}", 'failed to process "${:-bbb}": syntax error: bad substitution'),
        ("he${.}", 'failed to process "he${.}": unsupported modifier (.) in substitution'),
        (
            "he${XXX:YYY}",
            'failed to process "he${XXX:YYY}": unsupported modifier (:Y) in substitution',
        ),
        ("${x:=dev}", 'failed to process "${x:=dev}": unsupported modifier (:=) in substitution'),
        ("${FOO:#}", 'failed to process "${FOO:#}": unsupported modifier (:#) in substitution'),
        # Go prints the scanner's end-of-input rune as U+FFFD.
        ("${aaa", 'failed to process "${aaa": unsupported modifier (\ufffd) in substitution'),
        ("${FOO//}", "failed to process \"${FOO//}\": syntax error: missing '/' in ${}"),
        (
            "${A#\\x}",
            'failed to process "${A#\\\\x}": invalid pattern (\\x) in substitution: '
            "invalid escape '\\x'",
        ),
        (
            "he'llo",
            'failed to process "he\'llo": '
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            '"hello\\"',
            'failed to process "\\"hello\\\\\\"": '
            "unexpected end of statement while looking for matching double-quote",
        ),
    ],
)
def test_errors(word: str, message: str) -> None:
    with pytest.raises(ShellWordError) as caught:
        process_word(word, ENV | {"A": "v"})
    assert caught.value.message == message
    assert caught.value.word == word
    assert message.endswith(caught.value.reason)


@pytest.mark.parametrize(
    "word,env,expected",
    [
        ("hello there", {}, ["hello", "there"]),
        ("hello\\ there", {}, ["hello there"]),
        ('hello" there  "', {}, ["hello there  "]),
        ('hello\\" there', {}, ['hello"', "there"]),
        ("hello'$there'", {}, ["hello$there"]),
        # A variable's spaces split; quoted ones don't.
        ("hello${space}bye", {"space": "abc  def"}, ["helloabc", "defbye"]),
        ('hello"${space}"bye', {"space": "abc  def"}, ["helloabc  defbye"]),
        ("hello${leading}def", {"leading": "  ab c"}, ["hello", "ab", "cdef"]),
        ("hello${trailing}d", {"trailing": "ab c   "}, ["helloab", "c", "d"]),
        # EXPOSE's case: one argument, several ports.
        ("$PORTS", {"PORTS": "80/tcp 443"}, ["80/tcp", "443"]),
        ('""', {}, []),
    ],
)
def test_process_words(word: str, env: dict[str, str], expected: list[str]) -> None:
    assert process_words(word, env) == expected


def test_backtick_escape() -> None:
    # With `# escape=\``, backslashes are ordinary (Windows paths).
    assert process_word("c:\\dir\\$X", {"X": "x"}, escape="`") == "c:\\dir\\x"
    assert process_word("c:\\`$X", {"X": "x"}, escape="`") == "c:\\$X"
    assert process_word('"a`"b"', {}, escape="`") == 'a"b'


def test_reference_example() -> None:
    # The Dockerfile reference: ENV FOO=/bar, then WORKDIR/ADD/COPY.
    env = {"FOO": "/bar"}
    assert process_word("${FOO}", env) == "/bar"
    assert process_word("$FOO", env) == "/bar"
    assert process_word("\\$FOO", env) == "$FOO"


def test_matches_and_options() -> None:
    result = Lex().process("x ${FOO} ${UNUSED}", {"FOO": "y"})
    assert result.result == "x y "
    assert result.matched == {"FOO"}
    assert result.unmatched == {"UNUSED"}
    keep = Lex(raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    assert keep.process_word("'a' \"b\" \\c $X ${Y} ${Z:-d} $K", {"K": "k"}) == (
        "'a' \"b\" \\c $X ${Y} ${Z:-d} k"
    )
    assert Lex(skip_process_quotes=True).process_word("'$K'", {"K": "k"}) == "'k'"
    assert Lex().process_words("RUN << EOF cat", {}) == ["RUN", "<< EOF", "cat"]


@pytest.mark.parametrize(
    "keyword,mode",
    [
        ("ADD", "word"),
        ("COPY", "word"),
        ("ENV", "word"),
        ("FROM", "word"),
        ("LABEL", "word"),
        ("STOPSIGNAL", "word"),
        ("USER", "word"),
        ("VOLUME", "word"),
        ("WORKDIR", "word"),
        ("arg", "word"),
        ("EXPOSE", "words"),
        ("RUN", "none"),
        ("CMD", "none"),
        ("ENTRYPOINT", "none"),
        ("SHELL", "none"),
        ("HEALTHCHECK", "none"),
        ("MAINTAINER", "none"),
        ("ONBUILD", "none"),
    ],
)
def test_expansion_mode(keyword: str, mode: str) -> None:
    assert expansion_mode(keyword) == mode
    assert expands_variables(keyword) == (mode != "none")


def test_helpers() -> None:
    assert env_from_list(["foo=bar", "car=hat", "car=bike", "bare"]) == {
        "foo": "bar",
        "car": "bike",
        "bare": "",
    }
    assert go_quote('a"b\\c\n\t\x01é\u00a0') == '"a\\"b\\\\c\\n\\t\\x01é\\u00a0"'
