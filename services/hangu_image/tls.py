"""TLS for registries, as Docker's certs.d: a folder per registry host
(`<certs_d>/<host:port>/`) whose `*.crt` files are extra CA roots (added to
the system's) and whose `*.cert`/`*.key` pairs are client certificates.

A registry with such a folder is spoken to over verified HTTPS, even on
loopback (dockerd would treat a loopback registry as insecure and skip the
check; an operator who installs a CA for a host wants it checked)."""

from __future__ import annotations

import ssl
import threading
from pathlib import Path

from hangu_runtime.errors import InvalidArgument

_CACHE: dict[tuple[str, str, bool], tuple[float, ssl.SSLContext]] = {}
_LOCK = threading.Lock()


def host_dir(certs_d: Path | None, host: str) -> Path | None:
    """The certs.d folder of `host` ("127.0.0.1:5000", "registry-1.docker.io"),
    if there is one."""
    if certs_d is None:
        return None
    # Docker Hub's material may sit under any of its names.
    names = [host]
    if host in ("registry-1.docker.io", "index.docker.io"):
        names += ["docker.io", "index.docker.io", "registry-1.docker.io"]
    for name in names:
        folder = certs_d / name
        if folder.is_dir():
            return folder
    return None


def _stamp(folder: Path | None) -> float:
    if folder is None:
        return 0.0
    return max([folder.stat().st_mtime] + [p.stat().st_mtime for p in folder.iterdir()])


def context(certs_d: Path | None, host: str, verify: bool = True) -> ssl.SSLContext:
    """A client context for `host`: verified (system CAs plus the host's
    certs.d CAs) or, for an insecure registry, unverified; with the
    host's client certificate, if any. Cached until the folder changes."""
    folder = host_dir(certs_d, host)
    key = (str(folder or ""), host, verify)
    stamp = _stamp(folder)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    ctx = ssl.create_default_context() if verify else ssl._create_unverified_context()
    if folder is not None:
        for ca in sorted(folder.glob("*.crt")):
            if verify:
                ctx.load_verify_locations(cafile=str(ca))
        for cert in sorted(folder.glob("*.cert")):
            key_file = cert.with_suffix(".key")
            if not key_file.is_file():
                raise InvalidArgument(
                    f"missing key {key_file.name} for client certificate "
                    f"{cert.name}. CA certificates must use the extension "
                    f".crt"
                )
            ctx.load_cert_chain(str(cert), str(key_file))
        for key_file in sorted(folder.glob("*.key")):
            if not key_file.with_suffix(".cert").is_file():
                raise InvalidArgument(
                    f"missing client certificate {key_file.stem}.cert for key {key_file.name}"
                )
    with _LOCK:
        _CACHE[key] = (stamp, ctx)
    return ctx


def describe(err: BaseException) -> str:
    """Go's wording for the usual verification failures."""
    if isinstance(err, ssl.SSLCertVerificationError):
        reason = err.verify_message or str(err)
        if (
            "unable to get local issuer" in reason
            or "self-signed" in reason
            or "self signed" in reason
        ):
            return (
                "tls: failed to verify certificate: x509: certificate signed by unknown authority"
            )
        if "Hostname mismatch" in reason or "IP address mismatch" in reason:
            return f"tls: failed to verify certificate: x509: {reason}"
        return f"tls: failed to verify certificate: {reason}"
    return str(err)
