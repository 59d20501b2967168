"""Where a repository is fetched from: its registry's endpoint, and for
Docker Hub the configured mirrors first (dockerd's `registry-mirrors`).

An endpoint says which scheme to speak and whether to verify TLS:
  * a mirror URL names its scheme ("http://127.0.0.1:5001");
  * a host with a certs.d folder: verified HTTPS (unless listed insecure);
  * loopback and configured insecure registries: HTTPS without verification
    if they answer it, else plain HTTP (as dockerd);
  * anything else: verified HTTPS."""

from __future__ import annotations

import http.client
import ipaddress
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from hangu_runtime.config import Settings
from hangu_runtime.errors import InvalidArgument

from . import tls
from .reference import DEFAULT_DOMAIN, Reference

DOCKER_HUB_HOST = "registry-1.docker.io"
USER_AGENT = "hangu/0.1 (docker-compatible)"


@dataclass(frozen=True)
class RegistryConfig:
    """The daemon-wide registry settings."""

    insecure: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    certs_d: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RegistryConfig:
        certs = (
            Path(settings.certs_d) if settings.certs_d else settings.data_dir("image") / "certs.d"
        )
        for mirror in settings.registry_mirrors:
            validate_mirror(mirror)
        return cls(tuple(settings.insecure_registries), tuple(settings.registry_mirrors), certs)


@dataclass(frozen=True)
class Endpoint:
    scheme: str  # "https" or "http"
    host: str  # "127.0.0.1:5000", "registry-1.docker.io"
    verify: bool = True  # verify the TLS certificate
    mirror: bool = False
    path_prefix: str = ""  # a mirror URL may have a path
    config: RegistryConfig = field(default_factory=RegistryConfig)

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.host}{self.path_prefix}"

    def ssl_context(self) -> ssl.SSLContext:
        return tls.context(self.config.certs_d, self.host, self.verify)


def validate_mirror(url: str) -> str:
    """dockerd's ValidateMirror: an http(s) URL with no query or fragment."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidArgument(f"invalid mirror: unsupported scheme {parts.scheme!r} in {url!r}")
    if parts.query or parts.fragment or parts.username:
        raise InvalidArgument(f"invalid mirror: query, fragment or credentials in {url!r}")
    return url


def registry_host(ref: Reference) -> str:
    return DOCKER_HUB_HOST if ref.domain == DEFAULT_DOMAIN else ref.domain


def is_insecure(host: str, insecure: tuple[str, ...]) -> bool:
    """Loopback, and hosts (or CIDRs) listed as insecure."""
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


def listed_insecure(host: str, insecure: tuple[str, ...]) -> bool:
    """Insecure by the operator's list, not merely by being loopback."""
    name = (host.rsplit(":", 1)[0] if not host.endswith("]") else host).strip("[]")
    if host in insecure or name in insecure:
        return True
    return is_insecure(host, insecure) and not is_insecure(host, ())


# Insecure registries: which scheme each one answered on, for a while.
_SCHEMES: dict[str, tuple[str, float]] = {}
_SCHEMES_LOCK = threading.Lock()
SCHEME_TTL = 300.0


def insecure_scheme(host: str) -> str:
    """HTTPS without verification first, then plain HTTP (dockerd's order)."""
    now = time.monotonic()
    with _SCHEMES_LOCK:
        hit = _SCHEMES.get(host)
    if hit is not None and hit[1] > now:
        return hit[0]
    conn = http.client.HTTPSConnection(host, timeout=5, context=ssl._create_unverified_context())
    try:
        conn.request("GET", "/v2/", headers={"User-Agent": USER_AGENT})
        conn.getresponse().read()
        scheme = "https"
    except (ssl.SSLError, http.client.HTTPException, ConnectionResetError):
        scheme = "http"  # something answered, but not TLS
    except OSError:
        return "http"  # nothing answered: decide next time
    finally:
        conn.close()
    with _SCHEMES_LOCK:
        _SCHEMES[host] = (scheme, now + SCHEME_TTL)
    return scheme


def endpoint_for_host(host: str, config: RegistryConfig) -> Endpoint:
    if tls.host_dir(config.certs_d, host) is not None and not listed_insecure(
        host, config.insecure
    ):
        return Endpoint("https", host, True, config=config)
    if is_insecure(host, config.insecure):
        return Endpoint(insecure_scheme(host), host, False, config=config)
    return Endpoint("https", host, True, config=config)


def mirror_endpoint(url: str, config: RegistryConfig) -> Endpoint:
    parts = urllib.parse.urlsplit(validate_mirror(url))
    host = parts.netloc
    verify = parts.scheme == "https" and (
        tls.host_dir(config.certs_d, host) is not None or not is_insecure(host, config.insecure)
    )
    return Endpoint(
        parts.scheme, host, verify, mirror=True, path_prefix=parts.path.rstrip("/"), config=config
    )


def endpoints(ref: Reference, config: RegistryConfig, pull: bool = True) -> list[Endpoint]:
    """Endpoints to try in order. Mirrors serve Docker Hub pulls only."""
    found: list[Endpoint] = []
    if pull and ref.domain == DEFAULT_DOMAIN:
        found += [mirror_endpoint(m, config) for m in config.mirrors]
    found.append(endpoint_for_host(registry_host(ref), config))
    return found
