"""`python -m hangu_network.main`: the network service on its unix socket."""

from __future__ import annotations

import os

from hangu_runtime import logging as hlog
from hangu_runtime.config import load_settings
from hangu_runtime.server import serve

from .service import NetworkService


def main() -> None:
    settings = load_settings()
    hlog.configure("network", settings.log_level)
    service = NetworkService(settings)

    def on_stop() -> None:
        # Without the variable, stopping leaves namespaces, veths, bridges
        # and rules in place: containers keep running and keep their network.
        if os.environ.get("HANGU_PURGE_ON_STOP") == "1":
            service.purge()
        service.close()

    serve(
        "network",
        settings.grpc_socket("network"),
        service.register,
        max_workers=settings.grpc_workers,
        max_concurrent=settings.grpc_max_concurrent,
        on_stop=on_stop,
    )


if __name__ == "__main__":
    main()
