"""`python -m hangu_gateway.main`: serve the Docker API on
settings.docker_socket until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from pathlib import Path

from aiohttp import web

from hangu_runtime import logging as hlog
from hangu_runtime.config import Settings, load_settings

from .app import build_app
from .backends import connect
from .hijack import HijackableRequestHandler

log = hlog.get_logger("hangu.gateway")


class Gateway:
    """Start, serve, drain, stop (the uvicorn lifecycle)."""

    def __init__(self, settings: Settings, socket_path: Path | None = None) -> None:
        self.settings = settings
        self.socket_path = socket_path or settings.docker_socket
        self.backends = connect(settings)
        self.runner = web.AppRunner(
            build_app(self.backends, settings), access_log=None, handler_cancellation=True
        )
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        await self.runner.setup()
        web_server = self.runner.server
        assert web_server is not None
        loop = asyncio.get_running_loop()
        # Our own request handler class (see hijack.py), otherwise what
        # aiohttp's UnixSite does.
        factory = functools.partial(
            HijackableRequestHandler, web_server, loop=loop, **web_server._kwargs
        )
        path = self.socket_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            path.unlink()  # a stale socket from a previous run
        self._server = await loop.create_unix_server(factory, str(path), backlog=256)
        os.chmod(path, 0o660)
        log.info("serving", socket=str(path), pid=os.getpid())

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self.runner.server is not None:
            await self.runner.server.shutdown(2.0)
        await self.runner.cleanup()
        await self.backends.close()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        log.info("stopped")


async def run(settings: Settings) -> None:
    gateway = Gateway(settings)
    await gateway.start()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await gateway.stop()


def main() -> None:
    settings = load_settings()
    hlog.configure("gateway", settings.log_level)
    # grpc's own debug lines (one per call) drown the request log.
    logging.getLogger("grpc").setLevel(logging.INFO)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
