"""Which stages a build needs (builder/needed.py): the target and what it
starts FROM or copies --from, transitively; a variable --from keeps all."""

from __future__ import annotations

import pytest

from hangu_image import dockerfile as df
from hangu_image.builder.needed import needed_stages


def _stages(text: str) -> tuple[df.Stage, ...]:
    return df.parse(text).stages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("FROM busybox\n", [True]),
        ("FROM busybox AS a\nFROM busybox\n", [False, True]),
        ("FROM busybox AS a\nFROM a\n", [True, True]),
        ("FROM busybox AS A\nFROM a AS b\nFROM busybox\nCOPY --from=b /x /x\n", [True, True, True]),
        (
            "FROM busybox AS a\nFROM busybox AS b\nFROM busybox\nCOPY --from=1 /x /x\n",
            [False, True, True],
        ),
        (
            "FROM busybox AS a\nFROM busybox AS b\nFROM busybox\nCOPY --from=$S /x /x\n",
            [True, True, True],
        ),
        (
            "FROM busybox AS a\nFROM busybox AS b\nFROM busybox AS c\nCOPY --from=a /x /x\nFROM c\n",
            [True, False, True, True],
        ),
        # an image that happens to share no name with a stage
        ("FROM busybox AS a\nFROM busybox\nCOPY --from=alpine /x /x\n", [False, True]),
    ],
)
def test_needed_stages(text: str, expected: list[bool]) -> None:
    assert needed_stages(_stages(text), lambda name: name) == expected


def test_from_names_are_expanded_with_the_meta_args() -> None:
    stages = _stages("FROM busybox AS base\nFROM busybox AS other\nFROM ${B}\n")
    assert needed_stages(stages, lambda name: name.replace("${B}", "base")) == [True, False, True]
