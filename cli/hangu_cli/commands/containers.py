"""Container commands: `hangu ps`, `hangu run` (the run flow is in run.py)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from ..client import APIClient
from ..output import ago, ports, short_id, table, truncate
from . import run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ps = sub.add_parser("ps", help="list containers")
    ps.add_argument("-a", "--all", action="store_true", help="show all containers")
    ps.add_argument("-q", "--quiet", action="store_true", help="only show container IDs")
    ps.add_argument("--no-trunc", action="store_true", help="do not truncate output")
    ps.set_defaults(func=cmd_ps)
    run.register(sub)


def _command(container: dict[str, Any], no_trunc: bool) -> str:
    command = container.get("Command") or ""
    if not no_trunc:
        command = truncate(command, 20)
    return f'"{command}"'


def cmd_ps(client: APIClient, args: argparse.Namespace) -> int:
    containers = client.get("/containers/json", {"all": args.all}) or []
    if args.quiet:
        for container in containers:
            print(container["Id"] if args.no_trunc else short_id(container["Id"]))
        return 0
    now = time.time()
    rows = []
    for container in containers:
        names = ",".join(n.lstrip("/") for n in container.get("Names") or [])
        rows.append(
            [
                container["Id"] if args.no_trunc else short_id(container["Id"]),
                container.get("Image", ""),
                _command(container, args.no_trunc),
                ago(container.get("Created", now), now),
                container.get("Status", ""),
                ports(container.get("Ports")),
                names,
            ]
        )
    table(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"], rows)
    return 0
