"""`python -m hangu_volume.main` (or `hangu-volume`): the volume service on
settings.grpc_socket("volume").

Loads the settings, configures logging and serves until SIGTERM; the
wiring is in service.py, the message conversion in servicer.py."""

from __future__ import annotations

from hangu_runtime import logging as hlog
from hangu_runtime.config import load_settings
from hangu_runtime.server import serve

from .service import VolumeService


def main() -> None:
    settings = load_settings()
    hlog.configure("volume", settings.log_level)
    service = VolumeService(settings)
    serve(
        "volume",
        settings.grpc_socket("volume"),
        service.register,
        max_workers=settings.grpc_workers,
        max_concurrent=settings.grpc_max_concurrent,
        on_stop=service.stop,
    )


if __name__ == "__main__":
    main()
