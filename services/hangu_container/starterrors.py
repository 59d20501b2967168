"""Why a start failed, told as current Docker tells it: runc's log line
reduced to its message and wrapped as containerd and dockerd wrap it, and
the exit code and kind dockerd derives from that text
(`translateContainerdStartErr`): 127 when the command is not there, 126
when it cannot be run, both the client's fault (400); anything else
unknown (500, exit code 128 unless one was set)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# containerd's and dockerd's wrapping of an OCI runtime's create error.
CREATE_PREFIX = (
    "failed to create task for container: failed to create shim task: OCI runtime create failed: "
)
NOT_A_DIRECTORY_HINT = (
    ": Are you trying to mount a directory onto a file (or vice-versa)? "
    "Check if the specified host path exists and is the expected type"
)
_NOT_FOUND = (
    "executable file not found",
    "no such file or directory",
    "system cannot find the file specified",
)
# runc logs with logrus' text format: time="..." level=error msg="..."
_LOGRUS = re.compile(r'\blevel=(\w+)\s+msg="((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if len(esc) > 1:
            return chr(int(esc[1:], 16))
        return _SIMPLE.get(esc, esc)

    return _ESCAPE.sub(one, text)


def runc_message(text: str) -> str:
    """The error lines of runc's log output, as plain text (the text as is
    when it is not logrus lines)."""
    found = [
        _unquote(m.group(2))
        for m in map(_LOGRUS.search, text.splitlines())
        if m is not None and m.group(1) in ("error", "fatal", "panic")
    ]
    return "\n".join(found) if found else text.strip()


def create_failed(runtime_output: str) -> str:
    """Docker's message for an OCI runtime create that failed."""
    return f"{CREATE_PREFIX}{runc_message(runtime_output)}: unknown"


@dataclass(frozen=True)
class Verdict:
    exit_code: int  # 0: not the command's fault (the caller picks 128)
    message: str
    invalid: bool  # the client's fault: 400, not 500


def classify(message: str) -> Verdict:
    """dockerd's reading of a runtime create error, in its order."""
    low = message.lower()
    code = 0
    if any(s in low for s in _NOT_FOUND):
        code = 127
    if "permission denied" in low:
        code = 126
    # Go 1.20 reports running a directory as EISDIR; dockerd adds EACCES's
    # text, which the docker CLI reads as its 126.
    if "is a directory" in low:
        return Verdict(126, f"{message}: permission denied", True)
    if "not a directory" in low:
        return Verdict(127, message + NOT_A_DIRECTORY_HINT, True)
    return Verdict(code, message, code != 0)
