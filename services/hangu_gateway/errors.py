"""Errors in Docker's form: `{"message": ...}` with application/json, the
HTTP status from the one table in hangu_runtime.errors.

Handlers do not catch a service's gRPC error: it reaches the app's
middleware, which maps it here once (moby's handlers `return err` and
httpstatus.FromError maps it the same way). The message is the service's
own; each service words a missing object as dockerd does ("No such
container: x", "No such image: x:latest", "network x not found", "get x:
no such volume", "No such exec instance: x"). A handler overrides it only
where dockerd's wording differs by endpoint, explicitly, with ApiError."""

from __future__ import annotations

import json

import grpc
from aiohttp import web

from hangu_runtime.errors import http_status


class ApiError(Exception):
    """An error the gateway itself decides (bad parameter, unsupported)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_implemented(what: str) -> ApiError:
    return ApiError(501, f"{what} is not supported by hangu yet")


def json_error(status: int, message: str) -> web.Response:
    # Exactly "application/json": the Go client compares the header as a
    # whole and prints the raw body when a charset follows.
    return web.Response(
        status=status,
        body=json.dumps({"message": message}).encode() + b"\n",
        content_type="application/json",
    )


def rpc_status(err: grpc.aio.AioRpcError) -> tuple[int, str]:
    """HTTP status and message for a gRPC error from a service: the one
    place the gateway maps them, NOT_FOUND included."""
    code = err.code()
    if code == grpc.StatusCode.UNIMPLEMENTED and (err.details() or "").startswith("Method not"):
        # The service has no such RPC yet: say so plainly, never a silent 200.
        return 501, "this operation is not supported by hangu yet"
    if code == grpc.StatusCode.UNAVAILABLE:
        return 503, f"hangu service unavailable: {err.details() or code.name}"
    return http_status(code), err.details() or code.name.lower()
