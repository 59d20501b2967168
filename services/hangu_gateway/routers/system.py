"""System area: /_ping, /version, /info."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import platform
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from hangu.container.v1 import container_pb2 as cpb
from hangu.image.v1 import image_pb2 as ipb
from hangu_runtime.config import Settings
from hangu_runtime.times import now_rfc3339
from hangu_runtime.version import SERVER_VERSION

from .. import versions
from ..keys import backends, settings
from .common import json_response

_GO_ARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def go_arch() -> str:
    machine = platform.machine()
    return _GO_ARCH.get(machine, machine)


def _ping_headers(response: web.StreamResponse) -> web.StreamResponse:
    response.headers.update(
        {
            "Api-Version": versions.API_VERSION,
            "Ostype": "linux",
            "Docker-Experimental": "false",
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Pragma": "no-cache",
            "Builder-Version": "1",
            "Swarm": "inactive",
        }
    )
    return response


async def ping(request: web.Request) -> web.StreamResponse:
    # aiohttp drops the body of a HEAD answer itself.
    return _ping_headers(web.Response(text="OK", content_type="text/plain"))


def _kernel() -> str:
    return os.uname().release


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def _mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


def _py_version() -> str:
    return f"python{platform.python_version()}"


async def version(request: web.Request) -> web.StreamResponse:
    details = {
        "ApiVersion": versions.API_VERSION,
        "Arch": go_arch(),
        "BuildTime": "",
        "Experimental": "false",
        "GitCommit": "",
        "GoVersion": _py_version(),
        "KernelVersion": _kernel(),
        "MinAPIVersion": versions.MIN_API_VERSION,
        "Os": "linux",
    }
    return json_response(
        {
            "Platform": {"Name": "hangu"},
            "Components": [{"Name": "Engine", "Version": SERVER_VERSION, "Details": details}],
            "Version": SERVER_VERSION,
            "ApiVersion": versions.API_VERSION,
            "MinAPIVersion": versions.MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": _py_version(),
            "Os": "linux",
            "Arch": go_arch(),
            "KernelVersion": _kernel(),
            "BuildTime": "",
        }
    )


async def _counts(request: web.Request) -> tuple[int, int, int, int, int]:
    """Containers (total, running, paused, stopped) and images; zeros for a
    service that does not answer, so `docker info` still prints."""
    b = backends(request)
    containers: list[cpb.Container] = []
    images = 0
    results = await asyncio.gather(
        b.container.List(cpb.ListContainersRequest(all=True), timeout=10),
        b.image.List(ipb.ListImagesRequest(), timeout=10),
        return_exceptions=True,
    )
    if not isinstance(results[0], BaseException):
        containers = list(results[0].containers)
    if not isinstance(results[1], BaseException):
        images = len(results[1].images)
    running = sum(1 for c in containers if c.state.running and not c.state.paused)
    paused = sum(1 for c in containers if c.state.paused)
    return (len(containers), running, paused, len(containers) - running - paused, images)


def _engine_id(root: Path) -> str:
    try:
        machine = Path("/etc/machine-id").read_text().strip()
    except OSError:
        machine = platform.node()
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"hangu:{machine}:{root}"))


async def info(request: web.Request) -> web.StreamResponse:
    cfg = settings(request)
    total, running, paused, stopped, images = await _counts(request)
    data: dict[str, Any] = {
        "ID": _engine_id(cfg.root),
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", "extfs"],
            ["Supports d_type", "true"],
            ["Using metacopy", "false"],
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"],
        ],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        "MemoryLimit": True,
        "SwapLimit": True,
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "BridgeNfIptables": True,
        "BridgeNfIp6tables": True,
        "OomKillDisable": True,
        "Debug": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": len(asyncio.all_tasks()),
        "SystemTime": now_rfc3339(),
        "LoggingDriver": "json-file",
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": _cgroup_version(),
        "NEventsListener": 0,
        "KernelVersion": _kernel(),
        "OperatingSystem": _os_name(),
        "OSVersion": platform.freedesktop_os_release().get("VERSION_ID", "")
        if hasattr(platform, "freedesktop_os_release")
        else "",
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": _registry_config(cfg),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": _mem_total(),
        "GenericResources": None,
        "DockerRootDir": str(cfg.root),
        "HttpProxy": "",
        "HttpsProxy": "",
        "NoProxy": "",
        "Name": platform.node(),
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": SERVER_VERSION,
        "Runtimes": {"runc": {"path": cfg.runtime}},
        "DefaultRuntime": "runc",
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": True,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "CDISpecDirs": [],
        "Containerd": None,
        "Warnings": [],
        "DefaultAddressPools": _address_pools(cfg.subnet_pool),
    }
    return json_response(data)


def _address_pools(pool: str) -> list[dict[str, Any]]:
    """`base:size,...` (a bare CIDR is one subnet of its own size)."""
    out: list[dict[str, Any]] = []
    for entry in filter(None, (e.strip() for e in pool.split(","))):
        base, _, size = entry.partition(":")
        out.append({"Base": base, "Size": int(size or base.partition("/")[2] or 32)})
    return out


def _registry_config(settings: Settings) -> dict[str, Any]:
    """As dockerd: insecure registries given as CIDRs join the loopback
    ranges; ones given as host[:port] get an index entry with Secure false
    (the CLI lists both under "Insecure Registries")."""
    cidrs = ["127.0.0.0/8", "::1/128"]
    indexes: dict[str, Any] = {
        "docker.io": {
            "Name": "docker.io",
            "Mirrors": list(settings.registry_mirrors),
            "Secure": True,
            "Official": True,
        }
    }
    for entry in settings.insecure_registries:
        if "/" not in entry:
            indexes[entry] = {"Name": entry, "Mirrors": [], "Secure": False, "Official": False}
            continue
        try:
            cidr = str(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            continue  # not a CIDR: the image service ignores it too
        if cidr not in cidrs:
            cidrs.append(cidr)
    return {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": indexes,
        "Mirrors": list(settings.registry_mirrors),
    }


ROUTES = [
    ("GET", "/_ping", ping),
    ("HEAD", "/_ping", ping),
    ("GET", "/version", version),
    ("GET", "/info", info),
]
