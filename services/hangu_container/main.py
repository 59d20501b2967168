"""`python -m hangu_container.main`: the container service on its unix
socket. On SIGTERM it leaves containers running (they outlive the service),
unless HANGU_PURGE_ON_STOP=1: then it kills and deletes every container,
its conmon, and asks the peers to drop sandboxes and root filesystems."""

from __future__ import annotations

from hangu_runtime import logging as hlog
from hangu_runtime.config import load_settings
from hangu_runtime.server import serve

from .service import ContainerService


def main() -> None:
    settings = load_settings()
    hlog.configure("container", settings.log_level)
    service = ContainerService(settings)
    serve(
        "container",
        settings.grpc_socket("container"),
        service.register,
        max_workers=settings.grpc_workers,
        max_concurrent=settings.grpc_max_concurrent,
        on_stop=service.stop,
    )


if __name__ == "__main__":
    main()
