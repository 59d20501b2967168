"""Client side of the supervisor's control socket: one JSON request line,
one JSON answer line."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


class ControlError(Exception):
    pass


def call(path: Path, request: dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        sock.sendall(json.dumps(request).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as err:
        raise ControlError(f"supervisor not reachable on {path}: {err}") from err
    finally:
        sock.close()
    if not data:
        raise ControlError("supervisor closed the connection without an answer")
    reply: dict[str, Any] = json.loads(data)
    if not reply.get("ok"):
        raise ControlError(str(reply.get("error", "failed")))
    return reply
