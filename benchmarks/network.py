"""The network budgets of issue 7, as operations for benchmarks/run.py: a
`run --rm` on a user network, `network create` + `rm`, `connect` +
`disconnect` on a running container, a container-name DNS lookup from
inside a container's namespace, and 1 GB through a published port on
127.0.0.1. Each operation prepares what it needs on both engines first (not
timed) and removes it afterwards."""

from __future__ import annotations

import itertools
import json
import re
import socket
import statistics
import subprocess
import sys
import time
from typing import Protocol

NET = "hgbench-net"
TRANSFER_BYTES = 1 << 30
# Host ports of the throughput server, one per engine (benchmarks use 21400-21499).
THROUGHPUT_PORTS = {"hangu": 21450, "dockerd": 21451}
_counter = itertools.count()


class Docker(Protocol):
    name: str
    state: dict[str, str]

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> str: ...


def _timed(engine: Docker, *args: str) -> float:
    start = time.perf_counter()
    engine.docker(*args)
    return time.perf_counter() - start


# -- docker run --rm --network NET ---------------------------------------------


def make_network(engine: Docker) -> None:
    engine.docker("network", "create", NET)


def remove_network(engine: Docker) -> None:
    engine.docker("network", "rm", NET, check=False)


def run_on_network(engine: Docker) -> float:
    return _timed(engine, "run", "--rm", "--network", NET, "busybox", "true")


# -- network create + rm ------------------------------------------------------------


def create_and_remove_network(engine: Docker) -> float:
    name = f"hgbench-{next(_counter)}"
    start = time.perf_counter()
    engine.docker("network", "create", name)
    engine.docker("network", "rm", name)
    return time.perf_counter() - start


# -- connect + disconnect on a running container ------------------------------------


def start_member(engine: Docker) -> None:
    make_network(engine)
    engine.state["member"] = engine.docker("run", "-d", "busybox", "sleep", "3600").strip()


def stop_member(engine: Docker) -> None:
    engine.docker("rm", "-f", engine.state.pop("member"), check=False)
    remove_network(engine)


def connect_and_disconnect(engine: Docker) -> float:
    member = engine.state["member"]
    start = time.perf_counter()
    engine.docker("network", "connect", NET, member)
    engine.docker("network", "disconnect", NET, member)
    return time.perf_counter() - start


# -- a DNS lookup of a container name --------------------------------------------

# Runs inside the client container's network namespace (nsenter -n): sends
# LOOKUPS A queries for the name to the container's resolver and prints the
# median round trip in seconds.
_LOOKUP = r"""
import socket, statistics, struct, sys, time
server, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
times = []
for i in range(n):
    query = struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + qname + struct.pack(">HH", 1, 1)
    t0 = time.perf_counter()
    s.sendto(query, (server, 53))
    answer = s.recv(512)
    times.append(time.perf_counter() - t0)
    if struct.unpack(">H", answer[6:8])[0] < 1:
        sys.exit(f"no answer for {name}")
print(statistics.median(times))
"""
LOOKUPS = 50


def start_dns_pair(engine: Docker) -> None:
    make_network(engine)
    target = engine.docker(
        "run", "-d", "--network", NET, "--name", "hgbench-target", "busybox", "sleep", "3600"
    ).strip()
    client = engine.docker("run", "-d", "--network", NET, "busybox", "sleep", "3600").strip()
    engine.state["dns"] = f"{target} {client}"
    resolv = engine.docker("exec", client, "cat", "/etc/resolv.conf")
    engine.state["resolver"] = re.findall(r"^nameserver\s+(\S+)", resolv, re.M)[0]
    engine.state["pid"] = engine.docker("inspect", "-f", "{{.State.Pid}}", client).strip()


def stop_dns_pair(engine: Docker) -> None:
    engine.docker("rm", "-f", *engine.state.pop("dns").split(), check=False)
    remove_network(engine)


def dns_lookup(engine: Docker) -> float:
    """One sample: the median of LOOKUPS lookups of the other container's name."""
    out = subprocess.run(
        [
            "nsenter",
            "-t",
            engine.state["pid"],
            "-n",
            sys.executable,
            "-c",
            _LOOKUP,
            engine.state["resolver"],
            "hgbench-target",
            str(LOOKUPS),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return float(out.stdout)


# -- 1 GB through a published port ----------------------------------------------


def start_sink(engine: Docker) -> None:
    port = THROUGHPUT_PORTS[engine.name]
    engine.state["sink"] = engine.docker(
        "run",
        "-d",
        "-p",
        f"127.0.0.1:{port}:80",
        "busybox",
        "sh",
        "-c",
        "while true; do nc -l -p 80 > /dev/null; done",
    ).strip()


def stop_sink(engine: Docker) -> None:
    engine.docker("rm", "-f", engine.state.pop("sink"), check=False)


def transfer(engine: Docker) -> float:
    """Seconds to push TRANSFER_BYTES to the container and see it close."""
    port = THROUGHPUT_PORTS[engine.name]
    chunk = memoryview(bytes(1 << 20))
    for _ in range(100):
        start = time.perf_counter()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
                for _ in range(TRANSFER_BYTES // len(chunk)):
                    conn.sendall(chunk)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(65536):
                    pass
            return time.perf_counter() - start
        except OSError:
            # nc between two connections (or not yet listening): try again.
            time.sleep(0.1)
    raise RuntimeError(f"{engine.name}: nothing listens on 127.0.0.1:{port}")


# -- the network service's own per-container set-up ----------------------------------


def sandbox_phases(log: str) -> dict[str, float]:
    """Median of each phase of the bridge-mode `sandbox_created` lines in the
    network service's JSON log."""
    phases: dict[str, list[float]] = {}
    for line in log.splitlines():
        if '"sandbox_created"' not in line:
            continue
        try:
            event = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if event.get("mode") != "bridge":
            continue
        for key, value in event.items():
            if key.endswith("_ms"):
                phases.setdefault(key, []).append(float(value))
    return {key: statistics.median(values) for key, values in phases.items()}
