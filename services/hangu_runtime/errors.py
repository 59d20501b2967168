"""One error root, and the one table from error kind to gRPC status code to
Docker HTTP status.

Services raise `HanguError` subclasses from domain code; the server
interceptor turns them into gRPC statuses; the gateway turns gRPC statuses
into Docker's `{"message": ...}` responses with `http_status()`.

Conflicts get ABORTED, never FAILED_PRECONDITION: Docker clients expect 409
for "name already in use", "container is running", "image is being used" and
"volume is in use", and moby folds FAILED_PRECONDITION into 400."""

from __future__ import annotations

import grpc


class HanguError(Exception):
    """Root of every error hangu reports to a client."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(HanguError):
    code = grpc.StatusCode.NOT_FOUND


class Conflict(HanguError):
    code = grpc.StatusCode.ABORTED


class AlreadyExists(HanguError):
    code = grpc.StatusCode.ALREADY_EXISTS


class InvalidArgument(HanguError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotModified(HanguError):
    """Nothing to do (Docker's 304). Prefer a response flag where the RPC has one."""

    code = grpc.StatusCode.OUT_OF_RANGE


class Unauthenticated(HanguError):
    code = grpc.StatusCode.UNAUTHENTICATED


class Forbidden(HanguError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(HanguError):
    code = grpc.StatusCode.UNAVAILABLE


class NotImplementedYet(HanguError):
    code = grpc.StatusCode.UNIMPLEMENTED


class Internal(HanguError):
    code = grpc.StatusCode.INTERNAL


# gRPC status -> Docker HTTP status. The only place this mapping lives.
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 304,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.CANCELLED: 499,
}

_BY_CODE: dict[grpc.StatusCode, type[HanguError]] = {
    cls.code: cls
    for cls in (
        NotFound,
        Conflict,
        AlreadyExists,
        InvalidArgument,
        NotModified,
        Unauthenticated,
        Forbidden,
        Unavailable,
        NotImplementedYet,
        Internal,
    )
}


def http_status(code: grpc.StatusCode) -> int:
    return HTTP_STATUS.get(code, 500)


def from_rpc_error(err: grpc.RpcError) -> HanguError:
    """Turn a peer's gRPC error back into the matching HanguError, so a
    service calling another can re-raise it with its code intact."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    details = err.details() if hasattr(err, "details") else str(err)
    cls = _BY_CODE.get(code, Internal)
    return cls(details or str(code))
