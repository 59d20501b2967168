"""Docker's "did you mean" hint for an unknown instruction or flag."""

from __future__ import annotations

from collections.abc import Iterable


def _levenshtein(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def with_suggestion(
    message: str, value: str, options: Iterable[str], *, case_sensitive: bool
) -> str:
    """Docker's `(did you mean X?)` hint: the option at edit distance 1 or 2
    (the first one found, options being sorted; Go's order is random)."""
    wanted = value if case_sensitive else value.lower()
    best, best_distance = "", 3
    for option in options:
        candidate = option if case_sensitive else option.lower()
        if candidate == wanted:
            return message
        distance = _levenshtein(wanted, candidate)
        if distance < best_distance:
            best, best_distance = candidate, distance
    if not best:
        return message
    # Instructions: the suggestion is upper case if the typed word was.
    if not case_sensitive and value == value.upper() != value.lower():
        best = best.upper()
    return f"{message} (did you mean {best}?)"
