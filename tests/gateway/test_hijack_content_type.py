"""The Content-Type of a hijacked attach/exec stream, as dockerd sends it:
multiplexed only when upgraded, without a TTY, at API 1.42 or later."""

from __future__ import annotations

import pytest

from hangu_gateway.hijack import MULTIPLEXED_STREAM, RAW_STREAM, content_type


@pytest.mark.parametrize(
    ("upgrade", "tty", "version", "expected"),
    [
        (True, False, "1.41", RAW_STREAM),  # dockerd 20.10: raw type, framed bytes
        (True, False, "1.42", MULTIPLEXED_STREAM),
        (True, False, "1.55", MULTIPLEXED_STREAM),
        (True, True, "1.55", RAW_STREAM),
        (False, False, "1.55", RAW_STREAM),  # a 200 answer is always the raw type
    ],
)
def test_content_type(upgrade: bool, tty: bool, version: str, expected: str) -> None:
    assert content_type(upgrade, tty, version) == expected
