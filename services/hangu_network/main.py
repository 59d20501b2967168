"""`python -m hangu_network.main` (or `hangu-network`): the network service
on settings.grpc_socket("network").

Loads the settings, configures logging and serves until SIGTERM; the
wiring is in service.py, the message conversion in servicer.py."""

from __future__ import annotations

from hangu_runtime import logging as hlog
from hangu_runtime.config import load_settings
from hangu_runtime.server import raise_open_files_limit, serve

from .service import NetworkService


def main() -> None:
    settings = load_settings()
    hlog.configure("network", settings.log_level)
    raise_open_files_limit()  # before the resolver sockets of every live container
    service = NetworkService(settings)
    serve(
        "network",
        settings.grpc_socket("network"),
        service.register,
        max_workers=settings.grpc_workers,
        max_concurrent=settings.grpc_max_concurrent,
        on_stop=service.stop,
    )


if __name__ == "__main__":
    main()
