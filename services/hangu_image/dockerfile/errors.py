"""What a Dockerfile parse refuses, worded as Docker words it."""

from __future__ import annotations

from hangu_runtime.errors import InvalidArgument


class DockerfileError(InvalidArgument):
    """A Dockerfile Docker would refuse. `message` is the classic builder's
    full text (`dockerfile parse error on line 3: unknown instruction: FOO`,
    `failed to parse Dockerfile: ENV must have two arguments`); `reason` is
    the bare cause and `line`..`end_line` where it is (1-based, 0 if none)."""

    def __init__(
        self, message: str, line: int = 0, *, reason: str | None = None, end_line: int | None = None
    ) -> None:
        super().__init__(message)
        self.line = line
        self.end_line = line if end_line is None else end_line
        self.reason = message if reason is None else reason


class Refusal(Exception):
    """A bare Docker error text, located and worded by whoever catches it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
