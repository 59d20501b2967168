"""Resource use of a running container, read from its cgroup v1
hierarchies and its network namespace (/proc/<pid>/net/dev), as raw
counters; the gateway shapes them into Docker's stats JSON."""

from __future__ import annotations

import os
import time
from pathlib import Path

from .model import NetworkCounters, StatsSample

CGROUP_ROOT = Path("/sys/fs/cgroup")
_USER_HZ = os.sysconf("SC_CLK_TCK")


def _read_int(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def _read_kv(path: Path) -> dict[str, int]:
    out = {}
    try:
        for line in path.read_text().splitlines():
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                out[key] = int(value)
    except OSError:
        pass
    return out


def host_memory() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 2**63


def system_cpu_ns() -> int:
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:8]
    return sum(int(f) for f in fields) * (1_000_000_000 // _USER_HZ)


def _networks(pid: int) -> dict[str, NetworkCounters]:
    out: dict[str, NetworkCounters] = {}
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:]
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        name = name.strip()
        if name == "lo":
            continue
        f = [int(x) for x in rest.split()]
        out[name] = NetworkCounters(
            rx_bytes=f[0],
            rx_packets=f[1],
            rx_errors=f[2],
            rx_dropped=f[3],
            tx_bytes=f[8],
            tx_packets=f[9],
            tx_errors=f[10],
            tx_dropped=f[11],
        )
    return out


def sample(cgroup_path: str, pid: int, running: bool) -> StatsSample:
    now = StatsSample(read_ns=time.time_ns())
    now.online_cpus = len(os.sched_getaffinity(0))
    now.system_cpu_usage = system_cpu_ns()
    if not running:
        return now
    rel = cgroup_path.lstrip("/")
    cpuacct = CGROUP_ROOT / "cpuacct" / rel
    now.cpu_total_usage = _read_int(cpuacct / "cpuacct.usage")
    stat = _read_kv(cpuacct / "cpuacct.stat")
    tick_ns = 1_000_000_000 // _USER_HZ
    now.cpu_usage_in_usermode = stat.get("user", 0) * tick_ns
    now.cpu_usage_in_kernelmode = stat.get("system", 0) * tick_ns
    memory = CGROUP_ROOT / "memory" / rel
    now.memory_usage = _read_int(memory / "memory.usage_in_bytes")
    # Unlimited reads as ~8 EiB on cgroup v1; dockerd shows the host's memory.
    now.memory_limit = min(_read_int(memory / "memory.limit_in_bytes") or 2**63, host_memory())
    now.memory_stats = _read_kv(memory / "memory.stat")
    pids = CGROUP_ROOT / "pids" / rel
    now.pids_current = _read_int(pids / "pids.current")
    now.pids_limit = _read_int(pids / "pids.max")
    try:
        for line in (
            (CGROUP_ROOT / "blkio" / rel / "blkio.throttle.io_service_bytes")
            .read_text()
            .splitlines()
        ):
            parts = line.split()
            if len(parts) == 3 and parts[1] == "Read":
                now.blkio_read_bytes += int(parts[2])
            elif len(parts) == 3 and parts[1] == "Write":
                now.blkio_write_bytes += int(parts[2])
    except OSError:
        pass
    now.networks = _networks(pid)
    return now
