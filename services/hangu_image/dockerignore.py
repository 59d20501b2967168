""".dockerignore rules as Docker applies them, for `docker build` contexts.

Reading follows moby's `patternmatcher/ignorefile.ReadAll`, compiling and matching
follow `patternmatcher.New` and its `Pattern.match`, and the walk follows the
tarballer that the docker CLI uses to send a context (`moby/go-archive`), including
its rule for when an excluded directory's contents can be skipped.

Docker does not match with `filepath.Match` itself: it checks a pattern's syntax with
it, then matches with a Go regular expression made from the pattern; gopattern.py
does both as Go does.

Everything here is pure except `walk`, which lists a context directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from . import gopattern

ILLEGAL_EXCLUSION = 'illegal exclusion pattern: "!"'

# Go's unicode.IsSpace, which strings.TrimSpace uses; str.strip() would also strip
# \x1c-\x1f, which Go keeps.
_GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


# A pattern Docker rejects (the message is Docker's own wording).
DockerignoreError = gopattern.BadPattern


# ---------------------------------------------------------------------------
# Go path helpers


def go_clean(path: str) -> str:
    """Go's `filepath.Clean` on a `/` path (posixpath.normpath keeps a leading `//`)."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for element in path.split("/"):
        if element in ("", "."):
            continue
        if element == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(element)
    cleaned = "/".join(parts)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def _go_dir(path: str) -> str:
    """Go's `filepath.Dir`: everything before the last `/`, cleaned."""
    return go_clean(path[: path.rfind("/") + 1])


# ---------------------------------------------------------------------------
# Reading the file


def read_patterns(text: str) -> list[str]:
    """The pattern lines of a .dockerignore, as `ignorefile.ReadAll` returns them.

    A leading BOM is dropped; lines starting with `#` (before any trimming) are
    comments; the rest are trimmed, blank ones skipped, and the part after an
    optional `!` is trimmed again, cleaned and loses one leading `/`. A lone `!`
    is kept as `!`: it is `compile_pattern` that rejects it, as `New` does.
    """
    patterns: list[str] = []
    for number, raw_line in enumerate(text.split("\n")):
        # bufio.ScanLines splits on "\n" only and drops one "\r" before it.
        line = raw_line.removesuffix("\r")
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip(_GO_SPACE)
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip(_GO_SPACE)
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


# ---------------------------------------------------------------------------
# Patterns


@dataclass(frozen=True)
class Pattern:
    """One compiled line: `text` is the cleaned pattern without its `!`."""

    text: str
    exclusion: bool
    _kind: gopattern.Kind = field(repr=False, compare=False)
    # A Go regexp compile failure only surfaces when Docker first evaluates the
    # pattern (it compiles lazily), so it is kept and raised then.
    _regex: re.Pattern[str] | DockerignoreError | None = field(repr=False, compare=False)

    def __str__(self) -> str:
        return "!" + self.text if self.exclusion else self.text

    def matches_path(self, path: str) -> bool:
        """Whether this pattern alone matches `path` itself (no parent check).

        Raises DockerignoreError for a pattern Go's regexp compiler rejects.
        """
        if self._kind is gopattern.Kind.EXACT:
            return path == self.text
        if self._kind is gopattern.Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self._kind is gopattern.Kind.SUFFIX:
            suffix = self.text[2:]
            # "**/foo" also matches a top-level "foo".
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        if isinstance(self._regex, DockerignoreError):
            raise DockerignoreError(str(self._regex), self._regex.pattern)
        assert self._regex is not None
        return self._regex.search(path) is not None


def compile_pattern(line: str) -> Pattern | None:
    """One exclude string as `patternmatcher.New` takes it; None for a blank one."""
    text = line.strip(_GO_SPACE)
    if not text:
        return None
    text = go_clean(text)
    exclusion = text.startswith("!")
    if exclusion:
        if len(text) == 1:
            raise DockerignoreError(ILLEGAL_EXCLUSION, line)
        text = text[1:]
    gopattern.check_match_syntax(text)
    kind, source = gopattern.regexp_source(text)
    regex = gopattern.compile_regexp(source) if kind is gopattern.Kind.REGEXP else None
    return Pattern(text, exclusion, kind, regex)


def compile_patterns(lines: Iterable[str]) -> list[Pattern]:
    return [pattern for line in lines if (pattern := compile_pattern(line)) is not None]


def parse(text: str) -> list[Pattern]:
    """The compiled patterns of a .dockerignore text."""
    return compile_patterns(read_patterns(text))


# ---------------------------------------------------------------------------
# Matching

# Per pattern, whether a directory matched it: what Docker's tarballer hands down
# to the entries of that directory (patternmatcher.MatchInfo).
ParentMatches = tuple[bool, ...]


class Matcher:
    """An ordered list of patterns: later ones override earlier ones."""

    def __init__(self, patterns: Iterable[Pattern]) -> None:
        self.patterns: tuple[Pattern, ...] = tuple(patterns)
        self.has_exclusions = any(pattern.exclusion for pattern in self.patterns)

    @classmethod
    def from_text(cls, text: str) -> Matcher:
        return cls(parse(text))

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> Matcher:
        return cls(compile_patterns(lines))

    def matches(self, path: str) -> bool:
        """Whether a context-relative `/` path is excluded (MatchesOrParentMatches).

        A pattern matching any parent directory matches the path too. The context
        root itself (`.`) is never excluded. Raises DockerignoreError if a pattern
        that has to be evaluated is one Go's regexp compiler rejects.
        """
        path = go_clean(path)
        if path == ".":
            return False
        ancestors = _ancestors(path)
        excluded = False
        for pattern in self.patterns:
            # An include can't change an excluded result, nor an exception an
            # included one; Docker does not even evaluate them.
            if pattern.exclusion != excluded:
                continue
            if pattern.matches_path(path) or any(map(pattern.matches_path, ancestors)):
                excluded = not pattern.exclusion
        return excluded

    def may_skip_dir(self, path: str) -> bool:
        """Whether a walk can leave out directory `path` and everything below it.

        Only an excluded directory can be skipped, and only when no exception
        pattern starts with `path/` (or is `path`). Docker's check is textual:
        `!**/keep` or `!*/keep` never stop a skip, so what they would re-include
        under an excluded directory is not sent.
        """
        return self.matches(path) and not self._exception_reaches_into(go_clean(path))

    def _exception_reaches_into(self, directory: str) -> bool:
        if not self.has_exclusions:
            return False
        prefix = directory + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)

    def _matches_from_parent(
        self, path: str, parent: ParentMatches | None
    ) -> tuple[bool, ParentMatches]:
        """MatchesUsingParentResults: how the tarballer decides during its walk.

        A pattern that matched the parent directory counts as matching `path`
        without being evaluated, and patterns skipped for the parent are not
        re-checked against it, so this can differ from `matches` (e.g. `a/b`
        then `!a` still excludes `a/b` here).
        """
        excluded = False
        matched: list[bool] = []
        ancestors = _ancestors(path) if not parent else []
        for index, pattern in enumerate(self.patterns):
            hit = parent[index] if parent else False
            if not hit:
                if pattern.exclusion != excluded:
                    matched.append(False)
                    continue
                hit = pattern.matches_path(path) or any(map(pattern.matches_path, ancestors))
            matched.append(hit)
            if hit:
                excluded = not pattern.exclusion
        return excluded, tuple(matched)

    def _matches_one_parent(self, path: str) -> bool:
        """The deprecated `patternmatcher.Matches`, still used to trim build files.

        Besides the path itself it only tries the parent prefix with as many
        components as the pattern has.
        """
        path = go_clean(path)
        if path == ".":
            return False
        parent = _go_dir(path)
        parent_dirs = parent.split("/")
        excluded = False
        for pattern in self.patterns:
            if pattern.exclusion != excluded:
                continue
            hit = pattern.matches_path(path)
            depth = len(pattern.text.split("/"))
            if not hit and parent != "." and depth <= len(parent_dirs):
                hit = pattern.matches_path("/".join(parent_dirs[:depth]))
            if hit:
                excluded = not pattern.exclusion
        return excluded


def _ancestors(path: str) -> list[str]:
    """`a`, `a/b` for `a/b/c`, as patternmatcher splits filepath.Dir(path)."""
    parent = _go_dir(path)
    if parent == ".":
        return []
    dirs = parent.split("/")
    return ["/".join(dirs[: i + 1]) for i in range(len(dirs))]


# ---------------------------------------------------------------------------
# The build files


def trim_build_files_from_excludes(
    excludes: Sequence[str], dockerfile: str, dockerfile_from_stdin: bool = False
) -> list[str]:
    """The docker CLI's `build.TrimBuildFilesFromExcludes`.

    The daemon needs the .dockerignore and the Dockerfile even when they are
    excluded, so the CLI appends `!.dockerignore` and `!<dockerfile>` (the path in
    the context, `/` separated) when the old one-parent `Matches` says they are
    excluded; the Dockerfile is left alone when it comes from stdin. A pattern
    error counts as "not excluded", as the CLI ignores it here.
    """
    result = list(excludes)
    if _excluded_by_one_parent_rule(".dockerignore", result):
        result.append("!.dockerignore")
    if _excluded_by_one_parent_rule(dockerfile, result) and not dockerfile_from_stdin:
        result.append("!" + dockerfile)
    return result


def build_files_removed_by_daemon(excludes: Sequence[str], dockerfile: str) -> list[str]:
    """Which of .dockerignore and the Dockerfile the classic builder drops from the
    context it received after reading the Dockerfile (remotecontext.removeDockerfile):
    those its own .dockerignore excludes, so COPY and ADD cannot see them.
    """
    try:
        matcher = Matcher.from_lines(excludes)
    except DockerignoreError:
        return []
    removed: list[str] = []
    for name in (".dockerignore", dockerfile):
        try:
            if matcher.matches(name):
                removed.append(name)
        except DockerignoreError:
            continue
    return removed


def _excluded_by_one_parent_rule(path: str, excludes: Sequence[str]) -> bool:
    try:
        return Matcher.from_lines(excludes)._matches_one_parent(path)
    except DockerignoreError:
        return False


# ---------------------------------------------------------------------------
# Walking a context


def walk(root: Path, matcher: Matcher) -> Iterator[str]:
    """The entries of context directory `root` that Docker would send.

    Yields `/` separated paths relative to `root`, depth first with each directory's
    entries sorted by their bytes (as Go's WalkDir does), never following symlinks.
    An excluded directory is not yielded; its contents are only visited when an
    exception pattern could reach into it (see `Matcher.may_skip_dir`), and then
    what they re-include is yielded without the directory itself, as in Docker's tar.
    OSError from reading a directory propagates.
    """
    stack: list[tuple[str, ParentMatches | None, Iterator[os.DirEntry[str]]]] = [
        ("", None, _sorted_entries(root))
    ]
    while stack:
        directory, parent, entries = stack[-1]
        entry = next(entries, None)
        if entry is None:
            stack.pop()
            continue
        path = f"{directory}/{entry.name}" if directory else entry.name
        excluded, matched = matcher._matches_from_parent(path, parent)
        if not excluded:
            yield path
        if not entry.is_dir(follow_symlinks=False):
            continue
        if excluded and not matcher._exception_reaches_into(path):
            continue
        stack.append((path, matched, _sorted_entries(Path(entry.path))))


def _sorted_entries(directory: Path) -> Iterator[os.DirEntry[str]]:
    with os.scandir(directory) as entries:
        listed = sorted(entries, key=lambda entry: os.fsencode(entry.name))
    return iter(listed)
