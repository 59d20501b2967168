"""`hangu`: the operator CLI. Talks to the gateway's Docker Engine API on
-H, else HANGU_HOST (read by hangu_runtime.config.client_host, as the
docker CLI reads DOCKER_HOST), else unix:///run/hangu/hangu.sock."""

from __future__ import annotations

import argparse
import sys

from hangu_runtime.config import client_host

from . import __version__
from .client import DEFAULT_HOST, APIClient, APIError, ConnectionFailed
from .commands import GROUPS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hangu", description=__doc__)
    parser.add_argument(
        "-H",
        "--host",
        default=client_host(DEFAULT_HOST),
        help="daemon socket (unix:///path or tcp://host:port)",
    )
    parser.add_argument("--version", action="version", version=f"hangu {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    client = APIClient(args.host)
    try:
        code: int = args.func(client, args)
    except ConnectionFailed as err:
        print(err, file=sys.stderr)
        return 1
    except APIError as err:
        print(f"Error response from daemon: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
