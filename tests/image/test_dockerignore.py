""".dockerignore reading, matching, build-file trimming and context walks, checked
against Docker's answers (moby/patternmatcher, docker/cli, the docs' examples)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hangu_image.dockerignore import (
    DockerignoreError,
    Matcher,
    build_files_removed_by_daemon,
    go_clean,
    parse,
    read_patterns,
    trim_build_files_from_excludes,
    walk,
)
from hangu_image.gopattern import BAD_PATTERN


def excluded(lines: list[str], path: str) -> bool:
    return Matcher.from_lines(lines).matches(path)


@pytest.mark.parametrize(
    "text,patterns",
    [
        ("# comment\n*/temp*\n*/*/temp*\ntemp?\n", ["*/temp*", "*/*/temp*", "temp?"]),
        ("test1\n/test2\n/a/file/here\n\nlast\n", ["test1", "test2", "a/file/here", "last"]),
        ("! /inverted/abs/path\n!\n! ", ["!inverted/abs/path", "!", "!"]),
        ("  # not a comment once indented", ["# not a comment once indented"]),
        ("\ufeff*.md\r\n!README.md\r\n", ["*.md", "!README.md"]),
        ("a/./b/../c/\n//x\n/\n./\n..//y", ["a/c", "x", "/", ".", "../y"]),
        ("\\!literal\n\t spaced \t\n\u3000wide\u3000", ["\\!literal", "spaced", "wide"]),
        ("\x1ckept\x1c", ["\x1ckept\x1c"]),  # Go's TrimSpace keeps \x1c
        ("", []),
    ],
)
def test_read_patterns_like_ignorefile_readall(text: str, patterns: list[str]) -> None:
    assert read_patterns(text) == patterns


@pytest.mark.parametrize(
    "path,cleaned",
    [("", "."), ("a//b/./c/..", "a/b"), ("//a", "/a"), ("/../a", "/a"), ("../../a", "../../a")],
)
def test_go_clean(path: str, cleaned: str) -> None:
    assert go_clean(path) == cleaned


# (patterns, path, excluded) -- docs.docker.com's .dockerignore examples first.
MATCHES = [
    (["*/temp*"], "somedir/temporary.txt", True),
    (["*/temp*"], "somedir/temp", True),
    (["*/temp*"], "somedir/temp/inner.txt", True),
    (["*/temp*"], "temp", False),
    (["*/temp*"], "a/b/temp", False),
    (["*/*/temp*"], "somedir/subdir/temporary.txt", True),
    (["*/*/temp*"], "somedir/temporary.txt", False),
    (["temp?"], "tempa", True),
    (["temp?"], "tempb", True),
    (["temp?"], "temp", False),
    (["temp?"], "tempab", False),
    (["temp?"], "dir/tempa", False),
    (["**/*.go"], "main.go", True),
    (["**/*.go"], "a/b/c.go", True),
    (["**/*.go"], "a/b/c.go.txt", False),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["*.md", "!README.md"], "docs/guide.md", False),  # `*` does not cross `/`
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README-public.md", False),
    (["*.md", "!README*.md", "README-secret.md"], "other.md", True),
    (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
    (["*.md", "README-secret.md", "!README*.md"], "other.md", True),
    # ** at the start, in the middle and at the end.
    (["**/foo"], "foo", True),
    (["**/foo"], "a/b/foo", True),
    (["**/foo"], "a/foo/bar", True),
    (["**/foo"], "afoo", False),
    (["**"], "anything/at/all", True),
    (["**file"], "dir/dir/file", True),
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    (["a/**/b"], "a/xb", False),
    (["a**/*.txt"], "a/dir/file.txt", True),
    (["a/**"], "a/x/y", True),
    (["a/**"], "a", False),
    (["abc/**"], "abc/def", True),
    # A match on a parent directory excludes everything below it.
    (["foo"], "foo/bar/baz", True),
    (["foo"], "foobar", False),
    (["foo/"], "foo/bar", True),
    (["/foo/bar"], "foo/bar/x", False),  # New does not drop `/`; ReadAll does
    (["a*"], "ab/c", True),
    (["a*/b"], "a/c/b", False),
    # Exceptions re-include, later lines win.
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    # Go filepath.Match syntax as Docker's regexp rewrite treats it.
    (["a?b"], "a/b", False),
    (["a[b-d]e"], "ace", True),
    (["a[b-d]e"], "aae", False),
    (["a[^b-d]e"], "aze", True),
    (["[!a]"], "!", True),  # `!` does not negate a class in Go
    (["[!a]"], "b", False),
    (["a\\*b"], "a*b", True),
    (["a\\*b"], "axb", False),
    (["\\!keep"], "!keep", True),
    (["abc.def"], "abcZdef", False),
    (["a(b)c/def"], "a(b)c/def", True),
    (["a+b*"], "a+bxx", True),
    (["a+b*"], "aab", False),
    (["."], "x", False),  # "." excludes nothing
    (["*"], ".", False),  # nor can the root be excluded
    # Quirks of Docker's regexp rewrite, confirmed against patternmatcher.
    (["[*]"], "]", True),
    (["[*]"], "*", False),
    (["[[:digit:]]x"], "7x", True),
    (["\\d"], "5", True),
    (["a^*"], "a^b", False),
    (["a^b"], "a^b", True),
]


@pytest.mark.parametrize("lines,path,expected", MATCHES)
def test_matches(lines: list[str], path: str, expected: bool) -> None:
    assert excluded(lines, path) is expected


def test_parse_then_match_the_docs_file() -> None:
    matcher = Matcher.from_text("# comment\n*/temp*\n*/*/temp*\ntemp?\n")
    assert [str(p) for p in matcher.patterns] == ["*/temp*", "*/*/temp*", "temp?"]
    assert [p.exclusion for p in parse("a\n!b")] == [False, True]
    assert matcher.matches("somedir/temp")


@pytest.mark.parametrize(
    "lines,message",
    [
        (["["], BAD_PATTERN),
        (["a[b"], BAD_PATTERN),
        (["[]"], BAD_PATTERN),
        (["[a-]"], BAD_PATTERN),
        (["trailing\\"], BAD_PATTERN),
        (["a*b[", "ok"], BAD_PATTERN),
        (["!"], 'illegal exclusion pattern: "!"'),
        (["!/"], 'illegal exclusion pattern: "!"'),
    ],
)
def test_invalid_patterns_are_rejected(lines: list[str], message: str) -> None:
    with pytest.raises(DockerignoreError) as raised:
        Matcher.from_lines(lines)
    assert str(raised.value) == message


def test_regexp_errors_surface_when_docker_would_evaluate_them() -> None:
    # Go compiles the regexp lazily: `\q` passes New, fails once evaluated.
    matcher = Matcher.from_lines(["x", "!\\q*"])
    assert not matcher.matches("y")  # the exception is never evaluated
    with pytest.raises(DockerignoreError, match=BAD_PATTERN):
        matcher.matches("x")


@pytest.mark.parametrize(
    "lines,directory,skippable",
    [
        (["dir"], "dir", True),
        (["dir", "!dir/keep"], "dir", False),
        (["dir", "!dir/sub/*.go"], "dir", False),
        (["dir", "!dir"], "dir", False),
        (["dir", "!dirx/keep"], "dir", True),
        (["dir", "!**/keep"], "dir", True),  # the check is textual
        (["dir", "!*/keep"], "dir", True),
        (["dir", "!other"], "dir", True),
        (["other"], "dir", False),  # not excluded: must be walked
        (["*", "!a/b/c"], "a/b", False),
        (["*", "!a/b/c"], "a/x", True),
    ],
)
def test_may_skip_dir(lines: list[str], directory: str, skippable: bool) -> None:
    assert Matcher.from_lines(lines).may_skip_dir(directory) is skippable


@pytest.mark.parametrize(
    "excludes,dockerfile,from_stdin,added",
    [
        ([], "Dockerfile", False, []),
        (["*"], "Dockerfile", False, ["!.dockerignore", "!Dockerfile"]),
        (["Dockerfile", ".dockerignore"], "Dockerfile", False, ["!.dockerignore", "!Dockerfile"]),
        (["Dockerfile"], "Dockerfile", True, []),
        (["build"], "build/Dockerfile.dev", False, ["!build/Dockerfile.dev"]),
        # The one-parent rule: `*` only tries "build", which it matches.
        (["*"], "build/x/Dockerfile", False, ["!.dockerignore", "!build/x/Dockerfile"]),
        # ... but the CLI's old Matches only tries the parent prefix as deep as
        # the pattern, so `**/x` misses "a/b/x/Dockerfile" (the tar still drops it).
        (["**/x"], "a/b/x/Dockerfile", False, []),
        (["["], "Dockerfile", False, []),  # pattern errors count as "not excluded"
    ],
)
def test_trim_build_files_from_excludes(
    excludes: list[str], dockerfile: str, from_stdin: bool, added: list[str]
) -> None:
    trimmed = trim_build_files_from_excludes(excludes, dockerfile, from_stdin)
    assert trimmed == excludes + added


def test_build_files_removed_by_daemon() -> None:
    assert build_files_removed_by_daemon(["*"], "Dockerfile") == [".dockerignore", "Dockerfile"]
    assert build_files_removed_by_daemon(["sub"], "sub/x/Dockerfile") == ["sub/x/Dockerfile"]
    assert build_files_removed_by_daemon(["*.md"], "Dockerfile") == []
    assert build_files_removed_by_daemon(["**/x"], "a/b/x/Dockerfile") == ["a/b/x/Dockerfile"]


def make_tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_text(name)


def test_walk_skips_excluded_and_keeps_exceptions(tmp_path: Path) -> None:
    make_tree(
        tmp_path,
        [
            "Dockerfile",
            ".dockerignore",
            "app/main.go",
            "app/main_test.go",
            "app/README.md",
            "node_modules/x/index.js",
            "node_modules/keep.js",
            "docs/a.md",
            "docs/README.md",
            "a-b",
            "empty/",
        ],
    )
    os.symlink("app", tmp_path / "link-to-app")
    os.symlink("/nonexistent", tmp_path / "node_modules" / "dangling")
    text = "node_modules\n!node_modules/keep.js\n*.md\n**/*_test.go\ndocs\n!docs/README.md\n"
    assert list(walk(tmp_path, Matcher.from_text(text))) == [
        ".dockerignore",
        "Dockerfile",
        "a-b",
        "app",
        "app/README.md",  # `*.md` only covers the root
        "app/main.go",
        "docs/README.md",  # re-included; "docs" itself is not sent
        "empty",
        "link-to-app",  # a symlink is an entry, never followed
        "node_modules/keep.js",
    ]


def test_walk_does_not_descend_where_no_exception_reaches(tmp_path: Path) -> None:
    make_tree(tmp_path, ["skip/deep/keep", "skip/other", "top"])
    (tmp_path / "skip" / "deep").chmod(0)  # never read, so no error
    try:
        assert list(walk(tmp_path, Matcher.from_lines(["skip", "!**/keep"]))) == ["top"]
    finally:
        (tmp_path / "skip" / "deep").chmod(0o755)


def test_walk_order_is_per_directory_bytes(tmp_path: Path) -> None:
    make_tree(tmp_path, ["a/b", "a-c", "B"])
    assert list(walk(tmp_path, Matcher([]))) == ["B", "a", "a/b", "a-c"]


def test_walk_uses_parent_results_like_the_tarballer(tmp_path: Path) -> None:
    # Docker's tarballer hands a directory's per-pattern results to its entries,
    # so `!a` (skipped while "a" was not excluded) never re-includes "a/b".
    make_tree(tmp_path, ["a/b", "a/c"])
    matcher = Matcher.from_lines(["a/b", "!a"])
    assert not matcher.matches("a/b")
    assert list(walk(tmp_path, matcher)) == ["a", "a/c"]
