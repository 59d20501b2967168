"""A Docker registry token server (the Bearer flow of the distribution
spec) for tests: issues RS256 JWTs signed by a throw-away certificate that
the registry trusts (its `auth.token.rootcertbundle`). Credentials are
checked with Basic auth; anonymous requests get pull-only tokens when
`anonymous_pull` is set."""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ISSUER = "hangu-test-issuer"
SERVICE = "hangu-test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    url: str  # realm: http://127.0.0.1:PORT/token
    cert: Path  # PEM certificate the registry trusts
    key: Path
    users: dict[str, str]
    anonymous_pull: bool = False
    issued: list[dict[str, object]] = field(default_factory=list)
    requests: list[dict[str, list[str]]] = field(default_factory=list)  # query of each

    def sign(self, claims: dict[str, object]) -> str:
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True,
            capture_output=True,
        ).stdout
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        sig = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
        ).stdout
        return f"{signing_input}.{_b64(sig)}"

    def token_for(self, user: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            allowed = [a for a in actions.split(",") if user or a == "pull"]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": ISSUER,
            "sub": user,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        self.issued.append(claims)
        return self.sign(claims)


def _handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: object) -> None:
            pass

        def _refuse(self, body: bytes) -> None:
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            server.requests.append(query)
            user = ""
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                name, _, password = base64.b64decode(header[6:]).decode().partition(":")
                if server.users.get(name) != password:
                    # Docker Hub's auth server says it this way.
                    self._refuse(b'{"details":"incorrect username or password"}')
                    return
                user = name
            elif not server.anonymous_pull:
                self._refuse(b'{"details":"authentication required"}')
                return
            token = server.token_for(user, query.get("scope", []))
            body = json.dumps({"token": token, "access_token": token, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


@contextlib.contextmanager
def running_token_server(
    workdir: Path, users: dict[str, str], anonymous_pull: bool = False
) -> Iterator[TokenServer]:
    cert, key = workdir / "token.crt", workdir / "token.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=hangu-test-token",
        ],
        check=True,
        capture_output=True,
    )
    server = TokenServer("", cert, key, users, anonymous_pull)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/token"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
