"""`python -m hangu_volume.main`: the volume service on its unix socket."""

from __future__ import annotations

import os

from hangu_runtime import logging as hlog
from hangu_runtime.config import load_settings
from hangu_runtime.server import serve

from .service import VolumeService


def main() -> None:
    settings = load_settings()
    hlog.configure("volume", settings.log_level)
    service = VolumeService(settings)

    def on_stop() -> None:
        if os.environ.get("HANGU_PURGE_ON_STOP") == "1":
            service.purge()
        service.close()

    serve(
        "volume",
        settings.grpc_socket("volume"),
        service.register,
        max_workers=settings.grpc_workers,
        max_concurrent=settings.grpc_max_concurrent,
        on_stop=on_stop,
    )


if __name__ == "__main__":
    main()
