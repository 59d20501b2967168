"""A client for the distribution (Docker registry v2) protocol, in plain
http.client so blobs stream without staging.

Auth follows the registry's `WWW-Authenticate` challenge: Bearer (a token
from the realm for the scopes this session needs, with Basic credentials
when given) or Basic. Which scheme and TLS checks an endpoint gets is
mirrors.py's business (certs.d, insecure and loopback registries, mirrors).

Uploads are monolithic (POST, PUT) up to CHUNK_THRESHOLD bytes and chunked
above (POST, PATCH with Content-Range per chunk, PUT), and a blob the
registry holds in another repository is mounted instead (POST ?mount=)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import socket
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol

from hangu_runtime.errors import HanguError, Internal, InvalidArgument, Unauthenticated

from . import tls
from .mirrors import (  # noqa: F401 - re-exported for callers and tests
    DOCKER_HUB_HOST,
    USER_AGENT,
    Endpoint,
    RegistryConfig,
    endpoint_for_host,
    is_insecure,
    registry_host,
)
from .reference import Reference

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
INDEX_TYPES = (MANIFEST_LIST, OCI_INDEX)
MANIFEST_TYPES = (MANIFEST_V2, OCI_MANIFEST)
ACCEPT = ", ".join((OCI_INDEX, MANIFEST_LIST, OCI_MANIFEST, MANIFEST_V2))
MAX_MANIFEST = 4 << 20
TIMEOUT = 60.0
# Blobs above this go up in PATCH chunks of CHUNK_SIZE.
CHUNK_THRESHOLD = 16 << 20
CHUNK_SIZE = 8 << 20


class Readable(Protocol):
    """What an upload reads from: a file, or a wrapper counting the bytes."""

    def read(self, size: int = -1, /) -> bytes: ...


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


def _parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    params = {k.lower(): v for k, v in re.findall(r'(\w+)="([^"]*)"', rest)}
    return scheme.lower(), params


def _token_error(status: int, body: bytes) -> str:
    """distribution's HandleErrorResponse on a token server's refusal."""
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        if doc.get("details"):
            return f"unauthorized: {doc['details']}" if status == 401 else str(doc["details"])
        errors = doc.get("errors") or []
        if errors and isinstance(errors[0], dict):
            code = str(errors[0].get("code", "")).lower().replace("_", " ")
            return (
                f"{code}: {errors[0].get('message', '')}"
                if code
                else str(errors[0].get("message", ""))
            )
    if status == 401:
        return "unauthorized: authentication required"
    return (
        f"unexpected status from token server: {status} "
        f"{http.client.responses.get(status, '')}".rstrip()
    )


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
    """One repository on one registry endpoint, with its auth state."""

    def __init__(
        self,
        ref: Reference,
        creds: Credentials | None = None,
        config: RegistryConfig | None = None,
        endpoint: Endpoint | None = None,
    ) -> None:
        self.ref = ref
        self.config = config or RegistryConfig()
        self.endpoint = endpoint or endpoint_for_host(registry_host(ref), self.config)
        self.host = self.endpoint.host
        self.scheme = self.endpoint.scheme
        self.creds = creds or Credentials()
        self._auth: str | None = None
        if self.creds.registry_token:
            self._auth = f"Bearer {self.creds.registry_token}"
        # Token scopes beyond this repository's (a mount's source repository).
        self.extra_scopes: set[str] = set()
        self.scope_actions = "pull"
        self.login_only = False
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return self.endpoint.base

    # ------------------------------------------------------------ transport
    def _connect(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        if scheme == "https":
            if netloc == self.host:
                context = self.endpoint.ssl_context()
            else:
                # A redirect (blob storage) or a token realm elsewhere.
                context = tls.context(
                    self.config.certs_d, netloc, not is_insecure(netloc, self.config.insecure)
                )
            return http.client.HTTPSConnection(netloc, timeout=TIMEOUT, context=context)
        return http.client.HTTPConnection(netloc, timeout=TIMEOUT)

    def _send(
        self, method: str, url: str, headers: dict[str, str], body: bytes | Readable | None = None
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        conn = self._connect(parts.scheme, parts.netloc)
        conn.blocksize = 1 << 20
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request(method, target, body=body, headers={"User-Agent": USER_AGENT, **headers})
            resp = conn.getresponse()
        except (OSError, http.client.HTTPException) as err:
            conn.close()
            verb = method.capitalize()
            if isinstance(err, ssl.SSLCertVerificationError):
                raise Internal(f'{verb} "{url}": {tls.describe(err)}') from err
            if isinstance(err, socket.gaierror):
                raise Internal(
                    f'{verb} "{url}": dial tcp: lookup {parts.hostname}: no such host'
                ) from err
            reason = getattr(err, "strerror", None) or str(err)
            if isinstance(err, ConnectionRefusedError):
                reason = "connect: connection refused"
            raise Internal(f'{verb} "{url}": dial tcp {parts.netloc}: {reason}') from err
        return Response(conn, resp)

    def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        scope_actions: str = "pull",
        body: bytes | None = None,
        url: str | None = None,
    ) -> Response:
        """Send with auth; follow the auth challenge once and redirects.
        `path` is under the endpoint's base; `url` (an upload location) is
        taken as it is."""
        url = url or f"{self.base}{path}"
        headers = dict(headers or {})
        for attempt in range(2):
            hdrs = dict(headers)
            if self._auth and urllib.parse.urlsplit(url).netloc == self.host:
                hdrs["Authorization"] = self._auth
            resp = self._follow(method, url, hdrs, body)
            if resp.status != 401 or attempt == 1:
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            if not challenge:
                return resp
            resp.read()
            resp.close()
            if hasattr(body, "seek"):
                body.seek(0)  # type: ignore[union-attr]
            self._authenticate(challenge, scope_actions, method, url)
        raise AssertionError("unreachable")

    def _follow(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None = None
    ) -> Response:
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

    def _scopes(self, actions: str) -> list[str]:
        if self.login_only:
            return []
        merged = set(self.scope_actions.split(",")) | set(actions.split(","))
        own = ",".join(a for a in ("pull", "push", "delete") if a in merged)
        self.scope_actions = own
        return [f"repository:{self.ref.path}:{own}", *sorted(self.extra_scopes)]

    def _authenticate(self, challenge: str, actions: str, method: str, url: str) -> None:
        scheme, params = _parse_challenge(challenge)
        verb = method.capitalize()
        if scheme == "basic":
            if not self.creds.username:
                raise Unauthenticated(f'{verb} "{url}": no basic auth credentials')
            self._auth = self._basic()
            return
        if scheme != "bearer" or "realm" not in params:
            raise Unauthenticated(f"unsupported auth challenge {challenge!r}")
        query: list[tuple[str, str]] = []
        if "service" in params:
            query.append(("service", params["service"]))
        query += [("scope", scope) for scope in self._scopes(actions)]
        headers: dict[str, str] = {}
        if self.creds.username and self.creds.password:
            headers["Authorization"] = self._basic()
            query += [("account", self.creds.username)]
        elif self.creds.identity_token:
            # An identity token is a refresh token (OAuth2), exchanged by POST.
            self._oauth(params, query)
            return
        realm = params["realm"]
        token_url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        resp = self._follow("GET", token_url, headers)
        with resp:
            body = resp.read(1 << 20)
        if resp.status != 200:
            raise Unauthenticated(f'{verb} "{url}": {_token_error(resp.status, body)}')
        self._auth = f"Bearer {self._token_from(body, verb, url)}"

    def _oauth(self, params: dict[str, str], query: list[tuple[str, str]]) -> None:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self.creds.identity_token,
            "client_id": "hangu",
            "service": params.get("service", ""),
            "scope": " ".join(v for k, v in query if k == "scope"),
        }
        data = urllib.parse.urlencode(form).encode()
        resp = self._follow(
            "POST",
            params["realm"],
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": str(len(data))},
            data,
        )
        with resp:
            body = resp.read(1 << 20)
        if resp.status != 200:
            raise Unauthenticated(_token_error(resp.status, body))
        self._auth = f"Bearer {self._token_from(body, 'Post', params['realm'])}"

    @staticmethod
    def _token_from(body: bytes, verb: str, url: str) -> str:
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            data = {}
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else ""
        if not token:
            raise Unauthenticated(f'{verb} "{url}": unauthorized: no token in auth server response')
        return str(token)

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
            return RegistryError(
                resp.status, str(first.get("code", "")), str(first.get("message", ""))
            )
        code = {401: "UNAUTHORIZED", 403: "DENIED", 404: "NOT_FOUND"}.get(resp.status, "")
        text = body[:200].decode(errors="replace").strip() or http.client.responses.get(
            resp.status, "error"
        )
        return RegistryError(resp.status, code, text)

    def ping(self) -> None:
        """GET /v2/ with the credentials (what `docker login` checks): a
        token, if the registry wants one, for no repository at all."""
        self.login_only = True
        resp = self.request("GET", "/v2/")
        if resp.status == 401:
            resp.close()
            raise Unauthenticated(
                f"login attempt to {self.scheme}://{self.host}/v2/ failed "
                f"with status: 401 Unauthorized"
            )
        if resp.status != 200:
            raise self.error_from(resp)
        resp.read()
        resp.close()

    def get_manifest(self, tag_or_digest: str) -> tuple[bytes, str, str]:
        """(raw bytes, media type, digest) of a manifest, index or list."""
        resp = self.request(
            "GET", f"/v2/{self.ref.path}/manifests/{tag_or_digest}", {"Accept": ACCEPT}
        )
        if resp.status != 200:
            raise self.error_from(resp)
        with resp:
            raw = resp.read(MAX_MANIFEST + 1)
        if len(raw) > MAX_MANIFEST:
            raise InvalidArgument("manifest too big")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if tag_or_digest.startswith("sha256:") and digest != tag_or_digest:
            raise InvalidArgument(f"manifest verification failed for digest {tag_or_digest}")
        media_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        try:
            doc: dict[str, Any] = json.loads(raw)
        except ValueError as err:
            raise InvalidArgument(f"invalid manifest: {err}") from err
        media_type = doc.get("mediaType") or media_type
        if media_type in SCHEMA1 or doc.get("schemaVersion") == 1:
            raise InvalidArgument(
                "support for Docker Image Format v1 and Docker Image manifest version 2, "
                "schema 1 has been removed"
            )
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
        resp = self.request(
            "HEAD", f"/v2/{self.ref.path}/blobs/{digest}", scope_actions="pull,push"
        )
        resp.read()
        resp.close()
        if resp.status in (401, 403):
            code = "UNAUTHORIZED" if resp.status == 401 else "DENIED"
            raise RegistryError(
                resp.status,
                code,
                "authentication required"
                if resp.status == 401
                else "requested access to the resource is denied",
            )
        return resp.status == 200

    def start_upload(self, mount: str = "", source: str = "") -> str:
        """POST an upload: "" when the registry mounted `mount` from
        repository `source` (201), else the upload location (202)."""
        query = ""
        if mount and source:
            query = "?" + urllib.parse.urlencode({"mount": mount, "from": source})
        resp = self.request(
            "POST",
            f"/v2/{self.ref.path}/blobs/uploads/{query}",
            {"Content-Length": "0"},
            scope_actions="pull,push",
        )
        if mount and source and resp.status == 201:
            resp.read()
            resp.close()
            return ""
        if resp.status != 202:
            raise self.error_from(resp)
        location = resp.headers.get("Location", "")
        resp.read()
        resp.close()
        return urllib.parse.urljoin(f"{self.base}/", location)

    def mount_blob(self, digest: str, source: str) -> str:
        """Cross-repository mount; "" if mounted, else an upload location to
        use instead."""
        return self.start_upload(digest, source)

    def _location_url(self, location: str, resp: Response) -> str:
        new = resp.headers.get("Location", "")
        return urllib.parse.urljoin(location, new) if new else location

    def upload_blob(self, body: Readable, size: int, digest: str, location: str = "") -> None:
        """Upload `size` bytes read from `body`: monolithic (one PUT) up to
        CHUNK_THRESHOLD, else PATCH chunks with Content-Range, then the PUT
        that commits it under `digest`."""
        location = location or self.start_upload()
        if size > CHUNK_THRESHOLD:
            offset = 0
            while offset < size:
                chunk = body.read(min(CHUNK_SIZE, size - offset))
                if not chunk:
                    raise Internal(f"blob {digest} ended after {offset} of {size} bytes")
                resp = self.request(
                    "PATCH",
                    "",
                    {
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                        "Content-Length": str(len(chunk)),
                    },
                    "pull,push",
                    chunk,
                    url=location,
                )
                if resp.status != 202:
                    raise self.error_from(resp)
                location = self._location_url(location, resp)
                resp.read()
                resp.close()
                offset += len(chunk)
            size = 0
        sep = "&" if "?" in location else "?"
        url = f"{location}{sep}digest={urllib.parse.quote(digest)}"
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if self._auth and urllib.parse.urlsplit(url).netloc == self.host:
            headers["Authorization"] = self._auth
        resp = self._send("PUT", url, headers, body if size else b"")
        if resp.status not in (201, 204):
            raise self.error_from(resp)
        resp.read()
        resp.close()

    def put_manifest(self, tag: str, raw: bytes, media_type: str) -> str:
        resp = self.request(
            "PUT",
            f"/v2/{self.ref.path}/manifests/{tag}",
            {"Content-Type": media_type, "Content-Length": str(len(raw))},
            scope_actions="pull,push",
            body=raw,
        )
        if resp.status not in (200, 201):
            raise self.error_from(resp)
        digest = resp.headers.get("Docker-Content-Digest", "")
        resp.read()
        resp.close()
        return digest or "sha256:" + hashlib.sha256(raw).hexdigest()
