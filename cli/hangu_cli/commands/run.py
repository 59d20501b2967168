"""`hangu run`: create (pulling the image if it is missing), attach, start,
wait, print the output, exit with the container's code; `--rm` removes it.

Removal is done here after the exit code is known rather than with
HostConfig.AutoRemove, so the exit code can never be lost to a race with
the removal (AutoRemove is used only with --detach)."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
from collections.abc import Iterator
from typing import Any

from ..client import APIClient, APIError
from ..streams import copy_output, pump_stdin
from .images import pull

# Exit codes of `docker run` itself (not the container's).
EXIT_DAEMON_ERROR = 125


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser("run", help="create and run a container")
    run.add_argument("--rm", action="store_true", help="remove the container when it exits")
    run.add_argument("-d", "--detach", action="store_true", help="run in the background")
    run.add_argument("-i", "--interactive", action="store_true", help="keep stdin open")
    run.add_argument("-t", "--tty", action="store_true", help="allocate a pseudo-TTY")
    run.add_argument("--name", help="container name")
    run.add_argument("-e", "--env", action="append", default=[], help="KEY=VALUE")
    run.add_argument("-v", "--volume", action="append", default=[], help="NAME:/PATH[:ro]")
    run.add_argument("-w", "--workdir", help="working directory inside the container")
    run.add_argument("--entrypoint", help="override the image's entrypoint")
    run.add_argument("--network", default="default", help="bridge, none or host")
    run.add_argument("image")
    run.add_argument("command", nargs=argparse.REMAINDER)
    run.set_defaults(func=cmd_run)


def container_config(args: argparse.Namespace) -> dict[str, Any]:
    attach = not args.detach
    config: dict[str, Any] = {
        "Image": args.image,
        "Cmd": args.command or None,
        "Env": args.env,
        "Tty": args.tty,
        "OpenStdin": args.interactive,
        "StdinOnce": args.interactive and attach,
        "AttachStdin": args.interactive and attach,
        "AttachStdout": attach,
        "AttachStderr": attach,
        "HostConfig": {
            "AutoRemove": bool(args.rm and args.detach),
            "NetworkMode": args.network,
            "Binds": args.volume or None,
        },
    }
    if args.workdir:
        config["WorkingDir"] = args.workdir
    if args.entrypoint is not None:
        config["Entrypoint"] = [args.entrypoint] if args.entrypoint else [""]
    return config


def create(client: APIClient, args: argparse.Namespace) -> str:
    config = container_config(args)
    params = {"name": args.name} if args.name else None
    try:
        reply = client.post("/containers/create", params, config)
    except APIError as err:
        if err.status != 404 or "image" not in err.message.lower():
            raise
        print(f"Unable to find image '{args.image}' locally", file=sys.stderr)
        pull(client, args.image, sys.stderr)
        reply = client.post("/containers/create", params, config)
    for warning in reply.get("Warnings") or []:
        print(f"WARNING: {warning}", file=sys.stderr)
    return str(reply["Id"])


@contextlib.contextmanager
def raw_terminal(enabled: bool) -> Iterator[None]:
    """Put our terminal in raw mode while attached to a TTY container."""
    if not enabled or not sys.stdin.isatty():
        yield
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def follow_terminal_size(client: APIClient, container_id: str) -> None:
    """Give the container's TTY our size now and whenever it changes."""

    def resize(*_: object) -> None:
        size = shutil.get_terminal_size()
        with contextlib.suppress(APIError, OSError):
            client.post(f"/containers/{container_id}/resize", {"h": size.lines, "w": size.columns})

    resize()
    if sys.stdout.isatty():
        signal.signal(signal.SIGWINCH, resize)


def cmd_run(client: APIClient, args: argparse.Namespace) -> int:
    try:
        container_id = create(client, args)
    except APIError as err:
        print(f"hangu: Error response from daemon: {err.message}", file=sys.stderr)
        return EXIT_DAEMON_ERROR
    if args.detach:
        try:
            client.post(f"/containers/{container_id}/start")
        except APIError as err:
            print(f"hangu: Error response from daemon: {err.message}", file=sys.stderr)
            return EXIT_DAEMON_ERROR
        print(container_id)
        return 0
    try:
        return _run_attached(client, args, container_id)
    finally:
        if args.rm:
            with contextlib.suppress(APIError):
                client.delete(f"/containers/{container_id}", {"v": True, "force": True})


def _run_attached(client: APIClient, args: argparse.Namespace, container_id: str) -> int:
    params = {"stream": True, "stdin": args.interactive, "stdout": True, "stderr": True}
    try:
        sock, initial = client.hijack(f"/containers/{container_id}/attach", params)
    except APIError as err:
        print(f"hangu: Error response from daemon: {err.message}", file=sys.stderr)
        return EXIT_DAEMON_ERROR
    with sock, raw_terminal(args.tty and args.interactive):
        try:
            client.post(f"/containers/{container_id}/start")
        except APIError as err:
            print(f"hangu: Error response from daemon: {err.message}", file=sys.stderr)
            return EXIT_DAEMON_ERROR
        if args.tty:
            follow_terminal_size(client, container_id)
        if args.interactive:
            pump_stdin(sock, sys.stdin.buffer)
        copy_output(sock, initial, args.tty, sys.stdout.buffer, sys.stderr.buffer)
    # The output ended: the container exited (or is about to be seen so).
    reply = client.post(
        f"/containers/{container_id}/wait", {"condition": "not-running"}, timeout=None
    )
    error = (reply.get("Error") or {}).get("Message") if reply else None
    if error:
        print(f"hangu: {error}", file=sys.stderr)
    code = int(reply.get("StatusCode", 0)) if reply else 0
    return code if 0 <= code < 256 else 255
