"""`hangu version` and `hangu info`."""

from __future__ import annotations

import argparse
import platform
import sys
from typing import Any

from hangu_runtime.units import human_size
from hangu_runtime.version import API_VERSION, SERVER_VERSION

from ..client import APIClient, APIError, ConnectionFailed

# Docker names architectures as Go does.
GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    version = sub.add_parser("version", help="show the client's and the server's versions")
    version.set_defaults(func=cmd_version)
    info = sub.add_parser("info", help="show system-wide information")
    info.set_defaults(func=cmd_info)


def cmd_version(client: APIClient, args: argparse.Namespace) -> int:
    print("Client: hangu")
    print(f" Version:           {SERVER_VERSION}")
    print(f" API version:       {API_VERSION}")
    print(f" Python version:    {platform.python_version()}")
    arch = GOARCH.get(platform.machine(), platform.machine())
    print(f" OS/Arch:           {sys.platform}/{arch}")
    try:
        server: dict[str, Any] = client.get("/version")
    except (ConnectionFailed, APIError) as err:
        print(f"\n{err}", file=sys.stderr)
        return 1
    print()
    print(f"Server: {server.get('Platform', {}).get('Name', '')}".rstrip())
    for component in server.get("Components") or [
        {"Name": "Engine", "Version": server.get("Version", ""), "Details": {}}
    ]:
        print(f" {component.get('Name')}:")
        print(f"  Version:          {component.get('Version', '')}")
        if component.get("Name") == "Engine":
            print(
                f"  API version:      {server.get('ApiVersion', '')} "
                f"(minimum version {server.get('MinAPIVersion', '')})"
            )
            print(f"  Python version:   {server.get('GoVersion', '')}")
            print(f"  Git commit:       {server.get('GitCommit', '')}")
            print(f"  Built:            {server.get('BuildTime', '')}")
            print(f"  OS/Arch:          {server.get('Os', '')}/{server.get('Arch', '')}")
            print(f"  Kernel version:   {server.get('KernelVersion', '')}")
        else:
            # The engine's details repeat the fields above; other components
            # (runc, conmon, ...) have theirs only there.
            for key, value in sorted((component.get("Details") or {}).items()):
                print(f"  {key + ':':<18}{value}")
    return 0


def cmd_info(client: APIClient, args: argparse.Namespace) -> int:
    info: dict[str, Any] = client.get("/info")
    print("Server:")
    rows = [
        ("Containers", info.get("Containers")),
        (" Running", info.get("ContainersRunning")),
        (" Paused", info.get("ContainersPaused")),
        (" Stopped", info.get("ContainersStopped")),
        ("Images", info.get("Images")),
        ("Server Version", info.get("ServerVersion")),
        ("Storage Driver", info.get("Driver")),
        ("Logging Driver", info.get("LoggingDriver")),
        ("Cgroup Driver", info.get("CgroupDriver")),
        ("Cgroup Version", info.get("CgroupVersion")),
        ("Default Runtime", info.get("DefaultRuntime")),
        ("Kernel Version", info.get("KernelVersion")),
        ("Operating System", info.get("OperatingSystem")),
        ("OSType", info.get("OSType")),
        ("Architecture", info.get("Architecture")),
        ("CPUs", info.get("NCPU")),
        ("Total Memory", human_size(float(info["MemTotal"])) if info.get("MemTotal") else None),
        ("Name", info.get("Name")),
        ("ID", info.get("ID")),
        ("Docker Root Dir", info.get("DockerRootDir")),
    ]
    for label, value in rows:
        if value is not None and value != "":
            print(f" {label}: {value}")
    for warning in info.get("Warnings") or []:
        print(warning, file=sys.stderr)
    return 0
