"""`python -m hangu_supervisor.main start|stop|status|purge|restart`.

`start` launches a detached supervisor (its own session) that owns the five
service processes, and returns once every one of them answers; `stop` stops
them in reverse order (containers keep running unless `--purge`); `purge`
also removes every container, mount, netns, bridge and nftables table the
services own."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import os
import subprocess
import sys
import time

from hangu_runtime.config import Settings, inherited_environment, load_settings

from . import control, state
from .child import kill_orphan
from .daemon import Supervisor
from .purge import purge_pass
from .services import NAMES, SERVICES


def _running(paths: state.Paths) -> bool:
    return state.locked(paths.lock)


def cmd_start(settings: Settings) -> int:
    paths = state.Paths.of(settings)
    for folder in (settings.root, settings.grpc_dir):
        folder.mkdir(parents=True, exist_ok=True)
    paths.create()
    # Two `make up` at once: the second waits here, then finds it running.
    with open(paths.run / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _start_locked(settings, paths)


def _start_locked(settings: Settings, paths: state.Paths) -> int:
    if _running(paths):
        # Idempotent: make sure everything is up (a service may have given up).
        control.call(paths.control, {"cmd": "start"})
        print(f"hangu is running (run dir {settings.run})")
        return 0
    # A supervisor that died (SIGKILL) may have left services behind.
    for spec in reversed(SERVICES):
        kill_orphan(paths, spec, settings.stop_timeout)
    read_fd, write_fd = os.pipe()
    env = {**inherited_environment(), "PYTHONUNBUFFERED": "1"}
    with open(paths.log("supervisor"), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hangu_supervisor.main", "run", "--notify-fd", str(write_fd)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            pass_fds=(write_fd,),
            start_new_session=True,
        )
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        message = pipe.read().decode(errors="replace").strip()
    if message == "ready":
        print(f"hangu is up: DOCKER_HOST=unix://{settings.docker_socket}")
        return 0
    proc.wait()
    print(
        message or "supervisor died while starting:\n" + state.tail(paths.log("supervisor")),
        file=sys.stderr,
    )
    return 1


def cmd_run(settings: Settings, notify_fd: int | None) -> int:
    paths = state.Paths.of(settings)
    paths.create()
    lock_fd = state.try_lock(paths.lock)
    if lock_fd is None:
        print("another supervisor runs for this run dir", file=sys.stderr)
        return 1
    state.write_pid(paths.pidfile("supervisor"), os.getpid())
    supervisor = Supervisor(settings, inherited_environment())
    try:
        return asyncio.run(supervisor.run(notify_fd))
    finally:
        os.close(lock_fd)


def cmd_stop(settings: Settings, purge: bool) -> int:
    paths = state.Paths.of(settings)
    purged = False
    if _running(paths):
        try:
            # With purge, the supervisor runs the purge pass before answering.
            control.call(paths.control, {"cmd": "stop", "purge": purge}, timeout=900)
            purged = purge
        except control.ControlError as err:
            print(f"warning: {err}", file=sys.stderr)
        # The supervisor drops its lock as it exits.
        deadline = time.monotonic() + 30
        while _running(paths) and time.monotonic() < deadline:
            time.sleep(0.05)
        print("hangu stopped")
    else:
        print(f"hangu is not running (run dir {settings.run})")
    leftovers = [
        spec.name for spec in reversed(SERVICES) if kill_orphan(paths, spec, settings.stop_timeout)
    ]
    if leftovers:
        print(f"stopped services left by a dead supervisor: {', '.join(leftovers)}")
    if purge and not purged:
        _purge_now(settings)
    return 0


def _purge_now(settings: Settings) -> None:
    paths = state.Paths.of(settings)
    paths.create()
    problems = asyncio.run(purge_pass(settings, inherited_environment(), lambda line: print(line)))
    for problem in problems:
        print(problem, file=sys.stderr)
    print("hangu purged")


def cmd_status(settings: Settings) -> int:
    paths = state.Paths.of(settings)
    if not _running(paths):
        print(f"hangu is not running (run dir {settings.run})")
        for spec in SERVICES:
            pid = state.read_pid(paths.pidfile(spec.name))
            if pid is not None and state.alive(pid, spec.module):
                print(f"  {spec.name} still runs unsupervised (pid {pid}); `stop` stops it")
        return 3
    reply = control.call(paths.control, {"cmd": "status"}, timeout=10)
    print(f"supervisor pid {reply['pid']}  root {reply['root']}  run {reply['run']}")
    print(f"{'SERVICE':<10} {'STATE':<11} {'PID':>7} {'RESTARTS':>8} {'UPTIME':>9}  LAST EXIT")
    ok = True
    for svc in reply["services"]:
        ok = ok and svc["state"] == "running"
        print(
            f"{svc['name']:<10} {svc['state']:<11} {svc['pid'] or '-':>7} "
            f"{svc['restarts']:>8} {svc['uptime']:>8}s  {svc['last_exit'] or '-'}"
        )
    return 0 if ok else 3


def cmd_service(settings: Settings, command: str, name: str) -> int:
    paths = state.Paths.of(settings)
    if not _running(paths):
        print("hangu is not running", file=sys.stderr)
        return 3
    control.call(paths.control, {"cmd": command, "service": name})
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hangu-supervisor",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start", help="start the stack (detached) and wait until it answers")
    stop = sub.add_parser("stop", help="stop the stack; running containers stay")
    stop.add_argument(
        "--purge", action="store_true", help="also remove all containers and kernel state"
    )
    sub.add_parser("purge", help="stop and remove all containers and kernel state")
    sub.add_parser("status", help="show the processes (exit 3 unless all run)")
    for name in ("restart", "start-service", "stop-service"):
        one = sub.add_parser(name, help=f"{name} one service")
        one.add_argument("service", choices=NAMES)
    run = sub.add_parser("run", help="run the supervisor in the foreground")
    run.add_argument("--notify-fd", type=int, default=None, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    try:
        if args.command == "start":
            return cmd_start(settings)
        if args.command == "run":
            return cmd_run(settings, args.notify_fd)
        if args.command == "stop":
            return cmd_stop(settings, args.purge)
        if args.command == "purge":
            return cmd_stop(settings, True)
        if args.command == "status":
            return cmd_status(settings)
        return cmd_service(settings, args.command, args.service)
    except control.ControlError as err:
        print(f"hangu-supervisor: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
