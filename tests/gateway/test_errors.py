"""The one mapping from a service's gRPC error to Docker's HTTP error: the
status from hangu_runtime's table, the service's own wording kept."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio

from hangu_gateway.errors import rpc_status


def _err(code: grpc.StatusCode, details: str | None) -> aio.AioRpcError:
    return aio.AioRpcError(code, aio.Metadata(), aio.Metadata(), details=details)


@pytest.mark.parametrize(
    ("code", "details", "expected"),
    [
        (grpc.StatusCode.NOT_FOUND, "No such container: x", (404, "No such container: x")),
        (grpc.StatusCode.NOT_FOUND, "get v: no such volume", (404, "get v: no such volume")),
        (grpc.StatusCode.NOT_FOUND, "network n not found", (404, "network n not found")),
        (grpc.StatusCode.ABORTED, "volume is in use", (409, "volume is in use")),
        (grpc.StatusCode.INVALID_ARGUMENT, "bad", (400, "bad")),
        (grpc.StatusCode.OUT_OF_RANGE, "", (304, "out_of_range")),
        (grpc.StatusCode.UNAVAILABLE, "down", (503, "hangu service unavailable: down")),
        (
            grpc.StatusCode.UNIMPLEMENTED,
            "Method not found!",
            (501, "this operation is not supported by hangu yet"),
        ),
        (grpc.StatusCode.INTERNAL, "boom", (500, "boom")),
    ],
)
def test_rpc_status(code: grpc.StatusCode, details: str, expected: tuple[int, str]) -> None:
    assert rpc_status(_err(code, details)) == expected
