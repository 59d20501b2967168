"""Entry point: `python -m hangu_image.main` (or `hangu-image`) serves the
image service on settings.grpc_socket("image")."""

from __future__ import annotations

import os

from hangu_runtime import logging as hlog
from hangu_runtime.config import load_settings
from hangu_runtime.server import serve

from .service import ImageService
from .servicer import register


def main() -> None:
    settings = load_settings()
    hlog.configure("image", settings.log_level)
    service = ImageService(settings)

    def on_stop() -> None:
        # Without HANGU_PURGE_ON_STOP, mounted root filesystems stay mounted:
        # running containers must outlive the service.
        if os.environ.get("HANGU_PURGE_ON_STOP") == "1":
            service.purge()
        service.close()

    serve(
        "image",
        settings.grpc_socket("image"),
        register(service),
        max_workers=settings.grpc_workers,
        max_concurrent=settings.grpc_max_concurrent,
        on_stop=on_stop,
    )


if __name__ == "__main__":
    main()
