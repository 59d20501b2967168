"""A throw-away Debian `docker-registry` (CNCF distribution) on 127.0.0.1.

`running_registry()` starts one on a free port with its own storage dir,
waits until `/v2/` answers, and on exit stops it and removes the storage.
`push_oci_layout()` copies an OCI layout into it with skopeo, an independent
client, so the registry holds a real image before hangu ever talks to it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
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
    host: str  # "127.0.0.1:PORT"
    storage: Path  # the registry's filesystem root
    process: subprocess.Popen[bytes]
    credentials: tuple[str, str] | None = None  # Basic auth (htpasswd), if enabled
    tls: bool = False  # HTTPS with a self-signed certificate

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def blob_path(self, digest: str) -> Path:
        """Where the registry keeps a blob's bytes (to tamper with in tests)."""
        hexd = digest.removeprefix("sha256:")
        return self.storage / "docker/registry/v2/blobs/sha256" / hexd[:2] / hexd / "data"

    def push(
        self,
        layout: Path,
        repo: str = "busybox",
        tag: str = "latest",
        src_tag: str = "latest",
        extra: tuple[str, ...] = (),
    ) -> str:
        """skopeo copy; `extra` adds skopeo options, e.g. ("--all",) for an
        index or ("--format", "v2s2") for Docker's schema 2."""
        return push_oci_layout(self, layout, repo, tag, src_tag, extra)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(
    url: str, proc: subprocess.Popen[bytes], timeout: float = 20, auth: bool = False
) -> None:
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


def make_ca(workdir: Path, name: str = "hangu-test-ca") -> tuple[Path, Path]:
    """A throw-away certificate authority: (ca.crt, ca.key)."""
    cert, key = workdir / f"{name}.crt", workdir / f"{name}.key"
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
            f"/CN={name}",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _server_cert(workdir: Path, ca: tuple[Path, Path] | None) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1: self-signed, or signed by `ca`."""
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    if ca is None:
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
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
        return cert, key
    csr, ext = workdir / "tls.csr", workdir / "tls.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
    )
    subprocess.run(
        [
            "openssl",
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(csr),
            "-subj",
            "/CN=127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            "openssl",
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca[0]),
            "-CAkey",
            str(ca[1]),
            "-CAcreateserial",
            "-out",
            str(cert),
            "-days",
            "1",
            "-extfile",
            str(ext),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextlib.contextmanager
def running_registry(
    tmp_parent: str = "/tmp",
    credentials: tuple[str, str] | None = None,
    token_auth: dict[str, str] | None = None,
    tls: bool = False,
    ca: tuple[Path, Path] | None = None,
) -> Iterator[Registry]:
    """With `credentials`, the registry demands Basic auth (htpasswd); with
    `token_auth` (realm, service, issuer, cert) Bearer tokens from that realm;
    with `tls`, it serves HTTPS with a certificate for 127.0.0.1, self-signed
    or, given `ca` (cert, key; see make_ca), signed by that CA."""
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
        cert, key = _server_cert(workdir, ca)
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
                proc = subprocess.Popen(
                    dying_with_parent([REGISTRY_BIN, "serve", str(config)]),
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                    env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
                )
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
        yield Registry(
            host=f"127.0.0.1:{port}",
            storage=storage,
            process=proc,
            credentials=credentials,
            tls=tls,
        )
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


def push_oci_layout(
    registry: Registry,
    layout: Path,
    repo: str = "busybox",
    tag: str = "latest",
    src_tag: str = "latest",
    extra: tuple[str, ...] = (),
) -> str:
    """skopeo copy oci:LAYOUT:SRC_TAG docker://HOST/REPO:TAG; returns the
    destination reference."""
    dest = f"{registry.host}/{repo}:{tag}"
    creds = ["--dest-creds", ":".join(registry.credentials)] if registry.credentials else []
    subprocess.run(
        [
            "skopeo",
            "--insecure-policy",
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            *creds,
            *extra,
            f"oci:{layout}:{src_tag}",
            f"docker://{dest}",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return dest


@dataclass
class Proxy:
    host: str  # "127.0.0.1:PORT"
    rate: int  # bytes a second from the registry; 0: unlimited
    # Request lines the client sent ("PATCH /v2/x/blobs/uploads/..."), as
    # far as they can be seen in the byte stream.
    requests: list[str] = field(default_factory=list)


_REQUEST_LINE = re.compile(rb"(GET|HEAD|POST|PUT|PATCH|DELETE) (/v2/\S*) HTTP/1\.[01]\r\n")


@contextlib.contextmanager
def throttled_proxy(target: str, rate: int) -> Iterator[Proxy]:
    """A TCP proxy on 127.0.0.1:<free port> to `target` ("127.0.0.1:PORT")
    that sends the registry's answers at about `rate` bytes a second (change
    `proxy.rate` at any time), so a test can act in the middle of a pull."""
    import threading

    host, _, port = target.rpartition(":")
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(32)
    listener.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    proxy = Proxy("", rate)

    def pipe(src: socket.socket, dst: socket.socket, throttle: bool) -> None:
        chunk = 16384
        try:
            while not stop.is_set():
                data = src.recv(chunk)
                if not data:
                    break
                dst.sendall(data)
                if not throttle:
                    proxy.requests += [
                        f"{m.group(1).decode()} {m.group(2).decode()}"
                        for m in _REQUEST_LINE.finditer(data)
                    ]
                if throttle and proxy.rate:
                    time.sleep(len(data) / proxy.rate)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def serve() -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection((host, int(port)))
            conns.extend((client, upstream))
            threading.Thread(target=pipe, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=pipe, args=(upstream, client, True), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    proxy.host = f"127.0.0.1:{listener.getsockname()[1]}"
    try:
        yield proxy
    finally:
        stop.set()
        thread.join()
        listener.close()
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.close()
