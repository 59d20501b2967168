"""A small Docker Engine API client over a unix socket (or plain TCP),
with API version negotiation, JSON and JSON-stream responses, and the
connection hijack that attach uses. No docker-py: only the standard library."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.parse
from collections.abc import Iterator
from typing import Any

from hangu_runtime.unixhttp import UnixHTTPConnection
from hangu_runtime.version import API_VERSION

DEFAULT_HOST = "unix:///run/hangu/hangu.sock"
# API_VERSION (the newest this client speaks, the gateway's newest) is
# lowered to the server's when that is older.
USER_AGENT = "hangu-cli/0.1"


class APIError(Exception):
    """An error answer of the API: HTTP status and Docker's message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ConnectionFailed(Exception):
    pass


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class APIClient:
    def __init__(
        self, host: str = DEFAULT_HOST, timeout: float | None = 60.0, version: str | None = None
    ) -> None:
        self.host = host
        self.timeout = timeout
        self._version = version
        parsed = urllib.parse.urlparse(host)
        if parsed.scheme == "unix":
            self._unix_path: str | None = parsed.path
            self._netloc = ""
        elif parsed.scheme in ("tcp", "http"):
            self._unix_path = None
            self._netloc = parsed.netloc
        else:
            raise ValueError(f"unsupported host {host!r} (unix:///path or tcp://host:port)")

    # -- connections -----------------------------------------------------------

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._unix_path is not None:
            return UnixHTTPConnection(self._unix_path, timeout)
        return http.client.HTTPConnection(self._netloc, timeout=timeout)

    @property
    def version(self) -> str:
        """The API version used: ours, or the server's if it is older."""
        if self._version is None:
            server = self.ping().get("Api-Version", API_VERSION)
            ours = API_VERSION
            self._version = min(ours, server, key=_version_tuple)
        return self._version

    def _path(self, path: str, params: dict[str, Any] | None, versioned: bool) -> str:
        prefix = f"/v{self.version}" if versioned else ""
        query = ""
        if params:
            clean = {k: _param(v) for k, v in params.items() if v is not None}
            query = "?" + urllib.parse.urlencode(clean)
        return prefix + path + query

    def _send(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = -1.0,
        versioned: bool = True,
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        conn = self._connection(self.timeout if timeout == -1.0 else timeout)
        data = None
        all_headers = {"User-Agent": USER_AGENT, "Host": "docker"}
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        try:
            conn.request(
                method, self._path(path, params, versioned), body=data, headers=all_headers
            )
            response = conn.getresponse()
        except OSError as err:
            conn.close()
            raise ConnectionFailed(
                f"Cannot connect to the hangu daemon at {self.host}: {err}. "
                "Is the hangu daemon running?"
            ) from err
        if response.status >= 400:
            raw = response.read()
            conn.close()
            raise APIError(response.status, _message(raw))
        return conn, response

    # -- request kinds -----------------------------------------------------------

    def ping(self) -> dict[str, str]:
        conn, response = self._send("GET", "/_ping", versioned=False)
        response.read()
        headers = {k.title(): v for k, v in response.getheaders()}
        conn.close()
        return headers

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params)

    def post(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = -1.0,
    ) -> Any:
        return self.request("POST", path, params, body, timeout=timeout)

    def delete(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("DELETE", path, params)

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, Any] | None = None,
        body: Any = None,
        timeout: float | None = -1.0,
    ) -> Any:
        conn, response = self._send(method, path, params, body, timeout=timeout)
        try:
            raw = response.read()
        finally:
            conn.close()
        if not raw:
            return None
        if "json" in (response.getheader("Content-Type") or ""):
            return json.loads(raw)
        return raw.decode(errors="replace")

    def stream_json(
        self, method: str, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> Iterator[dict[str, Any]]:
        """A progress stream (pull, push, load): one JSON object at a time."""
        conn, response = self._send(method, path, params, body, timeout=None)
        decoder = json.JSONDecoder()
        buffer = ""
        try:
            while True:
                chunk = response.read1(65536)
                if not chunk:
                    break
                buffer += chunk.decode(errors="replace")
                while True:
                    buffer = buffer.lstrip()
                    if not buffer:
                        break
                    try:
                        obj, end = decoder.raw_decode(buffer)
                    except json.JSONDecodeError:
                        break
                    buffer = buffer[end:]
                    yield obj
        finally:
            conn.close()

    def hijack(
        self, path: str, params: dict[str, Any] | None = None, body: Any = None
    ) -> tuple[socket.socket, bytes]:
        """POST with `Upgrade: tcp` and take over the connection, as the
        docker CLI does for attach and exec start. Returns the raw socket
        and whatever stream bytes came with the response headers."""
        sock = self._raw_socket()
        data = json.dumps(body).encode() if body is not None else b""
        head = (
            f"POST {self._path(path, params, True)} HTTP/1.1\r\n"
            f"Host: docker\r\nUser-Agent: {USER_AGENT}\r\n"
            "Connection: Upgrade\r\nUpgrade: tcp\r\n"
            + ("Content-Type: application/json\r\n" if body is not None else "")
            + f"Content-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                sock.close()
                raise APIError(500, "connection closed during attach")
            received += chunk
        header, rest = received.split(b"\r\n\r\n", 1)
        status_line = header.split(b"\r\n", 1)[0].decode(errors="replace")
        status = int(status_line.split()[1])
        if status >= 400:
            sock.close()
            raise APIError(status, _message(rest))
        return sock, rest

    def _raw_socket(self) -> socket.socket:
        try:
            if self._unix_path is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(self._unix_path)
            else:
                host, _, port = self._netloc.rpartition(":")
                sock = socket.create_connection((host, int(port)))
        except OSError as err:
            raise ConnectionFailed(
                f"Cannot connect to the hangu daemon at {self.host}: {err}"
            ) from err
        return sock


def _param(value: Any) -> Any:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


def _message(raw: bytes) -> str:
    try:
        body = json.loads(raw)
        if isinstance(body, dict) and "message" in body:
            return str(body["message"])
    except ValueError:
        pass
    return raw.decode(errors="replace").strip()
