"""A throw-away dockerd (Debian's docker.io) for side-by-side timing: its own
data root, exec root, API socket and bridge under a temporary dir, with
iptables on (that is what turns the FORWARD policy to DROP, the condition
hangu meets on real hosts). `running_dockerd()` stops it and removes its
data root, its bridge and the iptables rules that name that bridge."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The one way hangu installs docker.io (`make deps` uses it too): no system
# dockerd is left running or enabled.
INSTALL_DOCKER_IO = Path(__file__).resolve().parents[1] / "deploy" / "install-docker-io.sh"


def ensure_installed() -> None:
    """Debian's docker.io, for its dockerd, unless a dockerd is there."""
    if shutil.which("dockerd"):
        return
    subprocess.run([str(INSTALL_DOCKER_IO)], check=True, stdin=subprocess.DEVNULL)


def used_networks() -> list[ipaddress.IPv4Network]:
    out = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    nets = []
    for line in out.splitlines():
        first = line.split()[0]
        if first != "default":
            with contextlib.suppress(ValueError):
                nets.append(ipaddress.IPv4Network(first, strict=False))
    return nets


def free_subnet() -> ipaddress.IPv4Network:
    used = used_networks()
    for third in range(250, 200, -1):
        candidate = ipaddress.IPv4Network(f"10.{third}.0.0/24")
        if not any(candidate.overlaps(n) for n in used):
            return candidate
    raise RuntimeError("no free 10.x.0.0/24 for the benchmark dockerd")


@dataclass
class Dockerd:
    tmp: Path
    socket: Path
    bridge: str
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"


def _wait(sock: Path, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dockerd exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        if sock.exists() and _ping(sock):
            return
        time.sleep(0.1)
    raise RuntimeError(f"dockerd did not answer:\n{log.read_text()[-3000:]}")


def _ping(sock: Path) -> bool:
    import socket as s

    conn = s.socket(s.AF_UNIX, s.SOCK_STREAM)
    try:
        conn.connect(str(sock))
        conn.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        return b" 200 " in conn.recv(100)
    except OSError:
        return False
    finally:
        conn.close()


@contextlib.contextmanager
def running_dockerd() -> Iterator[Dockerd]:
    ensure_installed()
    tmp = Path(tempfile.mkdtemp(prefix="hgb-d-", dir="/tmp"))
    bridge = f"hgbd{secrets.token_hex(3)}"
    subnet = free_subnet()
    gateway = f"{next(subnet.hosts())}/{subnet.prefixlen}"
    # dockerd takes an existing bridge with --bridge: ours, so a docker0 of
    # another dockerd on this machine is never touched.
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", gateway, "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    sock = tmp / "docker.sock"
    log = tmp / "dockerd.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root",
                str(tmp / "data"),
                "--exec-root",
                str(tmp / "x"),
                "--pidfile",
                str(tmp / "dockerd.pid"),
                "-H",
                f"unix://{sock}",
                "--bridge",
                bridge,
                "--iptables=true",
                "--ip6tables=false",
                "--log-level",
                "warn",
                "--storage-driver",
                "overlay2",
            ],
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        _wait(sock, proc, log)
        yield Dockerd(tmp=tmp, socket=sock, bridge=bridge, process=proc)
    finally:
        _forget_objects(sock)
        _stop(proc)
        _clean(tmp, bridge)


def _forget_objects(sock: Path) -> None:
    """Containers and user networks made in this dockerd: a user network's
    bridge (br-…) and its iptables rules outlive dockerd otherwise."""
    docker = ["docker", "-H", f"unix://{sock}"]
    ids = subprocess.run(
        [*docker, "ps", "-aq"], capture_output=True, text=True, check=False
    ).stdout.split()
    if ids:
        subprocess.run([*docker, "rm", "-f", *ids], capture_output=True, check=False)
    subprocess.run([*docker, "network", "prune", "-f"], capture_output=True, check=False)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    # dockerd's own containerd and shims belong to the same session.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _clean(tmp: Path, bridge: str) -> None:
    points = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            point = line.split()[4]
            if point.startswith(str(tmp)):
                points.append(point)
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    subprocess.run(["ip", "link", "del", bridge], capture_output=True)
    for table in ("filter", "nat"):
        rules = subprocess.run(
            ["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True
        ).stdout.splitlines()
        for rule in rules:
            if rule.startswith("-A ") and bridge in shlex.split(rule):
                subprocess.run(
                    ["iptables", "-w", "-t", table, "-D", *shlex.split(rule)[1:]],
                    capture_output=True,
                )
    shutil.rmtree(tmp, ignore_errors=True)
