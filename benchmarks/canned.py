"""A stand-in engine that answers from memory, to measure the docker CLI's
own share of a command (the floor no engine can go under).

It replays what a real engine answered (status, headers, body) for each
path, over a unix socket, with keep-alive as the CLI expects. It is a
measuring instrument for benchmarks only, never a stand-in for hangu."""

from __future__ import annotations

import os
import socket
import socketserver
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path


def record(host: str, paths: list[str]) -> dict[str, tuple[int, list[tuple[str, str]], bytes]]:
    """GET each path from a real engine; keep status, headers and body."""
    answers: dict[str, tuple[int, list[tuple[str, str]], bytes]] = {}
    for path in paths:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(host.removeprefix("unix://"))
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
        sock.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [_header(line) for line in lines[1:]]
        keep = [
            (k, v)
            for k, v in headers
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date")
        ]
        if any(k.lower() == "transfer-encoding" for k, _ in headers):
            body = _unchunk(body)
        answers[_unversioned(path)] = (status, keep, body)
    return answers


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


def _unversioned(path: str) -> str:
    """/v1.47/images/json?x=1 -> /images/json: the CLI's version is its own choice."""
    path = path.split("?")[0]
    parts = path.split("/", 2)
    if len(parts) > 2 and parts[1].startswith("v1."):
        return "/" + parts[2]
    return path


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    answers: dict[str, tuple[int, list[tuple[str, str]], bytes]]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _answer(self, with_body: bool) -> None:
        status, headers, body = self.server.answers.get(_unversioned(self.path), (404, [], b"{}"))
        self.send_response_only(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._answer(True)

    def do_HEAD(self) -> None:
        self._answer(False)

    def log_message(self, *_: object) -> None:
        pass


@contextmanager
def canned_engine(answers: dict[str, tuple[int, list[tuple[str, str]], bytes]]) -> Iterator[str]:
    """Serve `answers` (keyed by path without the version prefix); yields the
    DOCKER_HOST to use."""
    folder = Path(tempfile.mkdtemp(prefix="hgt-canned-"))
    path = folder / "canned.sock"
    server = _Server(str(path), _Handler)
    server.answers = answers
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{path}"
    finally:
        server.shutdown()
        server.server_close()
        os.unlink(path)
        folder.rmdir()
