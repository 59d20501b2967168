"""`python -m hangu_supervisor.probe SERVICE [--timeout S]`: wait until one
service answers (gRPC health check, or GET /_ping for the gateway); exit 0,
or 1 after the timeout. The systemd units run it as ExecStartPost, so a unit
counts as started only once its service answers and `After=` orders the
services by readiness, as the supervisor does."""

from __future__ import annotations

import argparse
import sys
import time

from hangu_runtime.config import load_settings

from .services import NAMES, spec


def wait_ready(name: str, timeout: float) -> bool:
    settings = load_settings()
    service = spec(name)
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if service.ready(settings):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hangu-probe", description=__doc__)
    parser.add_argument("service", choices=NAMES)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    if wait_ready(args.service, args.timeout):
        return 0
    print(f"hangu-{args.service} did not answer within {args.timeout:.0f}s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
