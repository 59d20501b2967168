"""A throw-away Debian `docker-registry` (CNCF distribution) on 127.0.0.1.

`running_registry()` starts one on a free port with its own storage dir,
waits until `/v2/` answers, and on exit stops it and removes the storage.
`push_oci_layout()` copies an OCI layout into it with skopeo, an independent
client, so the registry holds a real image before hangu ever talks to it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.process import dying_with_parent

REGISTRY_BIN = "/usr/bin/docker-registry"

CONFIG = """\
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
"""

TLS = """\
  tls:
    certificate: {cert}
    key: {key}
"""

TOKEN_AUTH = """\
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {cert}
"""

AUTH = """\
auth:
  htpasswd:
    realm: hangu-test
    path: {path}
"""


@dataclass
class Registry:
    host: str             # "127.0.0.1:PORT"
    storage: Path         # the registry's filesystem root
    process: subprocess.Popen[bytes]
    credentials: tuple[str, str] | None = None   # Basic auth (htpasswd), if enabled
    tls: bool = False                            # HTTPS with a self-signed certificate

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def blob_path(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (to tamper with in tests)."""
        hexd = digest.removeprefix("sha256:")
        return (self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data")

    def push(self, layout: Path, repo: str = "busybox", tag: str = "latest",
             src_tag: str = "latest", extra: tuple[str, ...] = ()) -> str:
        """skopeo copy; `extra` adds skopeo options, e.g. ("--all",) for an
        index or ("--format", "v2s2") for Docker's schema 2."""
        return push_oci_layout(self, layout, repo, tag, src_tag, extra)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 20,
                auth: bool = False) -> None:
    import ssl
    context = ssl._create_unverified_context() if url.startswith("https") else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/v2/", timeout=1, context=context) as resp:
                if resp.status == 200:
                    return
        except urllib.error.HTTPError as err:
            if auth and err.code == 401:
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError("docker-registry did not answer /v2/ in time")


def _bcrypt(password: str) -> str:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # glibc's libxcrypt does bcrypt ($2b$), as htpasswd -B
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))


@contextlib.contextmanager
def running_registry(tmp_parent: str = "/tmp",
                     credentials: tuple[str, str] | None = None,
                     token_auth: dict[str, str] | None = None,
                     tls: bool = False) -> Iterator[Registry]:
    """With `credentials`, the registry demands Basic auth (htpasswd); with
    `token_auth` (realm, service, issuer, cert) Bearer tokens from that realm;
    with `tls`, it serves HTTPS with a self-signed certificate for 127.0.0.1."""
    workdir = Path(tempfile.mkdtemp(prefix="hgt-reg-", dir=tmp_parent))
    storage = workdir / "storage"
    storage.mkdir()
    auth = ""
    if credentials:
        htpasswd = workdir / "htpasswd"
        htpasswd.write_text(f"{credentials[0]}:{_bcrypt(credentials[1])}\n")
        auth = AUTH.format(path=htpasswd)
    elif token_auth:
        auth = TOKEN_AUTH.format(**token_auth)
    tls_conf = ""
    if tls:
        cert, key = workdir / "tls.crt", workdir / "tls.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        tls_conf = TLS.format(cert=cert, key=key)
    config = workdir / "config.yml"
    log = workdir / "registry.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        # A free port can be taken by someone else before the registry binds
        # it (parallel test sessions): try again on another.
        for attempt in range(5):
            port = free_port()
            config.write_text(CONFIG.format(storage=storage, port=port) + tls_conf + auth)
            with open(log, "wb") as out:
                proc = subprocess.Popen(dying_with_parent([REGISTRY_BIN, "serve", str(config)]),
                                        stdout=out, stderr=out, start_new_session=True,
                                        env={**os.environ, "OTEL_TRACES_EXPORTER": "none"})
            try:
                scheme = "https" if tls else "http"
                _wait_ready(f"{scheme}://127.0.0.1:{port}", proc, auth=bool(auth))
                break
            except RuntimeError as err:
                _stop(proc)
                text = log.read_text(errors="replace")
                if "address already in use" in text and attempt < 4:
                    continue
                raise RuntimeError(f"{err}; log: {text[-2000:]}") from None
        assert proc is not None
        yield Registry(host=f"127.0.0.1:{port}", storage=storage, process=proc,
                       credentials=credentials, tls=tls)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def push_oci_layout(registry: Registry, layout: Path, repo: str = "busybox",
                    tag: str = "latest", src_tag: str = "latest",
                    extra: tuple[str, ...] = ()) -> str:
    """skopeo copy oci:LAYOUT:SRC_TAG docker://HOST/REPO:TAG; returns the
    destination reference."""
    dest = f"{registry.host}/{repo}:{tag}"
    creds = ["--dest-creds", ":".join(registry.credentials)] if registry.credentials else []
    subprocess.run(
        ["skopeo", "--insecure-policy", "copy", "--quiet", "--dest-tls-verify=false", *creds,
         *extra, f"oci:{layout}:{src_tag}", f"docker://{dest}"],
        check=True, capture_output=True, timeout=120)
    return dest
