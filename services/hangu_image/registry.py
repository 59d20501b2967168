"""A client for the distribution (Docker registry v2) protocol, in plain
http.client so blobs stream without staging.

Auth follows the registry's `WWW-Authenticate` challenge: Bearer (token
from the realm, with Basic credentials when given) or Basic. Registries are
spoken to over verified HTTPS, except loopback ones and the configured
insecure ones: HTTPS without verification if they answer it, else HTTP."""

from __future__ import annotations

import base64
import hashlib
import http.client
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, BinaryIO

from hangu_runtime.errors import HanguError, Internal, InvalidArgument, Unauthenticated

from .reference import DEFAULT_DOMAIN, Reference

DOCKER_HUB_HOST = "registry-1.docker.io"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
           "application/vnd.docker.distribution.manifest.v1+prettyjws")
INDEX_TYPES = (MANIFEST_LIST, OCI_INDEX)
MANIFEST_TYPES = (MANIFEST_V2, OCI_MANIFEST)
ACCEPT = ", ".join((OCI_INDEX, MANIFEST_LIST, OCI_MANIFEST, MANIFEST_V2))
MAX_MANIFEST = 4 << 20
TIMEOUT = 60.0
USER_AGENT = "hangu/0.1 (docker-compatible)"


class RegistryError(HanguError):
    """An error the registry answered with (distribution's errcode)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        text = f"{code.lower().replace('_', ' ')}: {message}" if code else message
        super().__init__(text)
        self.status, self.error_code = status, code


@dataclass
class Credentials:
    username: str = ""
    password: str = ""
    identity_token: str = ""
    registry_token: str = ""


def registry_host(ref: Reference) -> str:
    return DOCKER_HUB_HOST if ref.domain == DEFAULT_DOMAIN else ref.domain


def is_insecure(host: str, insecure: tuple[str, ...]) -> bool:
    """HTTP for loopback and for hosts (or CIDRs) listed as insecure."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost" or host in insecure or name in insecure:
        return True
    try:
        addr = ipaddress.ip_address(name)
    except ValueError:
        return False
    if addr.is_loopback:
        return True
    for entry in insecure:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


# Insecure registries: which scheme each one answered on (as dockerd, HTTPS
# without verification first, then plain HTTP), remembered for a while.
_SCHEMES: dict[str, tuple[str, float]] = {}
_SCHEMES_LOCK = threading.Lock()
SCHEME_TTL = 300.0


def insecure_scheme(host: str) -> str:
    now = time.monotonic()
    with _SCHEMES_LOCK:
        hit = _SCHEMES.get(host)
    if hit is not None and hit[1] > now:
        return hit[0]
    conn = http.client.HTTPSConnection(host, timeout=5,
                                       context=ssl._create_unverified_context())
    try:
        conn.request("GET", "/v2/", headers={"User-Agent": USER_AGENT})
        conn.getresponse().read()
        scheme = "https"
    except (ssl.SSLError, http.client.HTTPException, ConnectionResetError):
        scheme = "http"      # something answered, but not TLS
    except OSError:
        return "http"        # nothing answered: decide next time
    finally:
        conn.close()
    with _SCHEMES_LOCK:
        _SCHEMES[host] = (scheme, now + SCHEME_TTL)
    return scheme


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


class Response:
    """A streaming response that owns its connection."""

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        self.conn, self.resp = conn, resp
        self.status = resp.status
        self.headers = resp.headers

    def read(self, n: int | None = None) -> bytes:
        return self.resp.read(n)

    def close(self) -> None:
        self.resp.close()
        self.conn.close()

    def __enter__(self) -> Response:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Session:
    """One repository on one registry, with its auth state."""

    def __init__(self, ref: Reference, creds: Credentials | None = None,
                 insecure: tuple[str, ...] = ()) -> None:
        self.ref = ref
        self.host = registry_host(ref)
        self.insecure = insecure
        self.scheme = insecure_scheme(self.host) if is_insecure(self.host, insecure) \
            else "https"
        self.creds = creds or Credentials()
        self._auth: str | None = None
        if self.creds.registry_token:
            self._auth = f"Bearer {self.creds.registry_token}"
        self._lock = threading.Lock()

    # ------------------------------------------------------------ transport
    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            # An insecure registry's certificate is not verified (dockerd's rule).
            context = ssl._create_unverified_context() if is_insecure(netloc, self.insecure) \
                else ssl.create_default_context()
            return http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=context)
        return http.client.HTTPConnection(netloc, timeout=TIMEOUT)

    def _send(self, method: str, url: str, headers: dict[str, str],
              body: bytes | BinaryIO | None = None) -> Response:
        parts = urllib.parse.urlsplit(url)
        conn = self._connect(parts.scheme, parts.netloc)
        conn.blocksize = 1 << 20
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, body=body,
                         headers={"User-Agent": USER_AGENT, **headers})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            if isinstance(err, socket.gaierror):
                raise Internal(f'{method.capitalize()} "{url}": dial tcp: lookup '
                               f'{parts.hostname}: no such host') from err
            reason = getattr(err, "strerror", None) or str(err)
            if isinstance(err, ConnectionRefusedError):
                reason = "connect: connection refused"
            raise Internal(f'{method.capitalize()} "{url}": dial tcp {parts.netloc}: {reason}'
                           ) from err
        return Response(conn, resp)

    def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                scope_actions: str = "pull", body: bytes | None = None) -> Response:
        """Send with auth; follow the auth challenge once and redirects."""
        url = f"{self.scheme}://{self.host}{path}"
        headers = dict(headers or {})
        for attempt in range(2):
            hdrs = dict(headers)
            if self._auth:
                hdrs["Authorization"] = self._auth
            resp = self._follow(method, url, hdrs, body)
            if resp.status != 401 or attempt == 1:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            resp.read()
            resp.close()
            if not challenge:
                return resp
            self._authenticate(challenge, scope_actions, method, url)
        raise AssertionError("unreachable")

    def _follow(self, method: str, url: str, headers: dict[str, str],
                body: bytes | None = None) -> Response:
        origin = urllib.parse.urlsplit(url).netloc
        for _ in range(6):
            resp = self._send(method, url, headers, body)
            if resp.status not in (301, 302, 303, 307, 308):
                return resp
            location = resp.headers.get("Location", "")
            resp.read()
            resp.close()
            url = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(url).netloc != origin:
                # Blob storage behind a redirect gets signed URLs, not our token.
                headers = {k: v for k, v in headers.items() if k != "Authorization"}
        raise Internal(f"too many redirects fetching {url}")

    def _basic(self) -> str:
        raw = f"{self.creds.username}:{self.creds.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _authenticate(self, challenge: str, actions: str, method: str, url: str) -> None:
        scheme, params = _parse_challenge(challenge)
        if scheme == "basic":
            if not self.creds.username:
                raise Unauthenticated(f'{method.capitalize()} "{url}": no basic auth credentials')
            self._auth = self._basic()
            return
        if scheme != "bearer" or "realm" not in params:
            raise Unauthenticated(f"unsupported auth challenge {challenge!r}")
        query = {"scope": f"repository:{self.ref.path}:{actions}"}
        if "service" in params:
            query["service"] = params["service"]
        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + \
            urllib.parse.urlencode(query)
        headers: dict[str, str] = {}
        if self.creds.username and self.creds.password:
            headers["Authorization"] = self._basic()
        resp = self._follow("GET", url, headers)
        with resp:
            body = resp.read(1 << 20)
            if resp.status != 200:
                raise Unauthenticated(
                    f"unauthorized: token request to {params['realm']} failed with "
                    f"{resp.status}: {body[:200].decode(errors='replace')}")
        data = json.loads(body or b"{}")
        token = data.get("token") or data.get("access_token")
        if not token:
            raise Unauthenticated("unauthorized: no token in auth server response")
        self._auth = f"Bearer {token}"

    # ------------------------------------------------------------ protocol
    @staticmethod
    def error_from(resp: Response) -> RegistryError:
        body = resp.read(1 << 16)
        resp.close()
        try:
            errors = json.loads(body).get("errors") or []
        except (ValueError, AttributeError):
            errors = []
        if errors:
            first = errors[0]
            return RegistryError(resp.status, str(first.get("code", "")),
                                 str(first.get("message", "")))
        code = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND"}.get(resp.status, "")
        text = body[:200].decode(errors="replace").strip() or http.client.responses.get(
            resp.status, "error")
        return RegistryError(resp.status, code, text)

    def ping(self) -> None:
        """GET /v2/ with the credentials (what `docker login` checks)."""
        resp = self.request("GET", "/v2/")
        if resp.status == 401:
            resp.close()
            raise Unauthenticated(f"login attempt to {self.scheme}://{self.host}/v2/ failed "
                                  f"with status: 401 Unauthorized")
        if resp.status != 200:
            raise self.error_from(resp)
        resp.read()
        resp.close()

    def get_manifest(self, tag_or_digest: str) -> tuple[bytes, str, str]:
        """(raw bytes, media type, digest) of a manifest, index or list."""
        resp = self.request("GET", f"/v2/{self.ref.path}/manifests/{tag_or_digest}",
                            {"Accept": ACCEPT})
        if resp.status != 200:
            raise self.error_from(resp)
        with resp:
            raw = resp.read(MAX_MANIFEST + 1)
        if len(raw) > MAX_MANIFEST:
            raise InvalidArgument("manifest too big")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if tag_or_digest.startswith("sha256:") and digest != tag_or_digest:
            raise InvalidArgument(
                f"manifest verification failed for digest {tag_or_digest}")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            doc: dict[str, Any] = json.loads(raw)
        except ValueError as err:
            raise InvalidArgument(f"invalid manifest: {err}") from err
        media_type = doc.get("mediaType") or media_type
        if media_type in SCHEMA1 or doc.get("schemaVersion") == 1:
            raise InvalidArgument(
                "support for Docker Image Format v1 and Docker Image manifest version 2, "
                "schema 1 has been removed")
        if not media_type:
            media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST
        return raw, media_type, digest

    def open_blob(self, digest: str) -> Response:
        resp = self.request("GET", f"/v2/{self.ref.path}/blobs/{digest}")
        if resp.status != 200:
            raise self.error_from(resp)
        return resp

    def tags(self) -> list[str]:
        resp = self.request("GET", f"/v2/{self.ref.path}/tags/list")
        if resp.status != 200:
            raise self.error_from(resp)
        with resp:
            body = resp.read(MAX_MANIFEST)
        return sorted(json.loads(body).get("tags") or [])

    # ------------------------------------------------------------ push
    def blob_exists(self, digest: str) -> bool:
        resp = self.request("HEAD", f"/v2/{self.ref.path}/blobs/{digest}",
                            scope_actions="pull,push")
        resp.read()
        resp.close()
        if resp.status in (401, 403):
            code = "UNAUTHORIZED" if resp.status == 401 else "DENIED"
            raise RegistryError(resp.status, code, "authentication required"
                                if resp.status == 401 else "requested access to the resource "
                                "is denied")
        return resp.status == 200

    def upload_blob(self, body: bytes | BinaryIO, size: int, digest: str) -> None:
        """Monolithic upload: POST for a location, then PUT the bytes."""
        resp = self.request("POST", f"/v2/{self.ref.path}/blobs/uploads/",
                            {"Content-Length": "0"}, scope_actions="pull,push")
        if resp.status != 202:
            raise self.error_from(resp)
        location = resp.headers.get("Location", "")
        resp.read()
        resp.close()
        url = urllib.parse.urljoin(f"{self.scheme}://{self.host}/", location)
        sep = "&" if "?" in url else "?"
        url += f"{sep}digest={urllib.parse.quote(digest)}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if self._auth and urllib.parse.urlsplit(url).netloc == self.host:
            headers["Authorization"] = self._auth
        resp = self._send("PUT", url, headers, body)
        if resp.status not in (201, 204):
            raise self.error_from(resp)
        resp.read()
        resp.close()

    def put_manifest(self, tag: str, raw: bytes, media_type: str) -> str:
        resp = self.request("PUT", f"/v2/{self.ref.path}/manifests/{tag}",
                            {"Content-Type": media_type, "Content-Length": str(len(raw))},
                            scope_actions="pull,push", body=raw)
        if resp.status not in (200, 201):
            raise self.error_from(resp)
        digest = resp.headers.get("Docker-Content-Digest", "")
        resp.read()
        resp.close()
        return digest or "sha256:" + hashlib.sha256(raw).hexdigest()
