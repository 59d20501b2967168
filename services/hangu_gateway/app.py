"""The aiohttp application: route tables from each API area registered with
and without the version prefix, and one middleware that gives every request
an id, negotiates the version, maps errors and logs one line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable

import grpc
from aiohttp import web

from hangu_runtime import logging as hlog
from hangu_runtime.config import Settings
from hangu_runtime.version import SERVER_VERSION

from . import errors, versions
from .keys import API_VERSION, BACKENDS, SETTINGS, Backends
from .routers import (
    build,
    containers,
    distribution,
    events,
    files,
    images,
    io,
    networks,
    system,
    volumes,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = tuple[str, str, Handler]

log = hlog.get_logger("hangu.gateway")

AREAS: tuple[Iterable[Route], ...] = (
    system.ROUTES,
    events.ROUTES,
    containers.ROUTES,
    io.ROUTES,
    files.ROUTES,
    images.ROUTES,
    build.ROUTES,
    distribution.ROUTES,
    volumes.ROUTES,
    networks.ROUTES,
)


@web.middleware
async def core_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = hlog.new_request_id()
    token = hlog.request_id.set(rid)
    start = time.monotonic()
    status = 500
    try:
        response = await _dispatch(request, handler)
        status = response.status
        return response
    except asyncio.CancelledError:
        status = 499  # the client went away (e.g. the CLI's wait after `run -d`)
        raise
    finally:
        log.info(
            "http",
            method=request.method,
            path=request.path,
            query=request.query_string or None,
            status=status,
            ms=round((time.monotonic() - start) * 1000, 2),
        )
        hlog.request_id.reset(token)


async def _dispatch(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        request[API_VERSION] = versions.negotiate(request.match_info.get("api_version"))
    except versions.VersionError as err:
        return errors.json_error(400, str(err))
    try:
        return await handler(request)
    except errors.ApiError as err:
        return errors.json_error(err.status, err.message)
    except grpc.aio.AioRpcError as err:
        # Handlers let a service's error through; it is mapped here only.
        status, message = errors.rpc_status(err)
        return errors.json_error(status, message)
    except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
        # dockerd answers both with its not-found handler.
        return errors.json_error(404, "page not found")
    except web.HTTPException as err:
        return errors.json_error(err.status, err.reason)
    except ConnectionResetError:
        return web.Response(status=499)
    except Exception as err:  # a bug: report it in Docker's form, log it whole
        log.exception("handler_failed", path=request.path)
        return errors.json_error(500, f"hangu gateway: {type(err).__name__}: {err}")


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """What dockerd's version middleware puts on every response."""
    response.headers.setdefault("Api-Version", versions.API_VERSION)
    response.headers.setdefault("Ostype", "linux")
    response.headers["Server"] = f"Docker/{SERVER_VERSION} (linux)"


def build_app(backends_: Backends, settings: Settings) -> web.Application:
    app = web.Application(middlewares=[core_middleware], client_max_size=0)
    app[BACKENDS] = backends_
    app[SETTINGS] = settings
    app.on_response_prepare.append(_common_headers)
    for routes in AREAS:
        for method, path, handler in routes:
            for prefix in ("", "/" + versions.PREFIX_PATTERN):
                app.router.add_route(method, prefix + path, handler)
    return app
