"""Readiness probes: the standard gRPC health check on a service's unix
socket, and GET /_ping on the gateway's Docker API socket."""

from __future__ import annotations

import http.client
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from hangu_runtime.unixhttp import UnixHTTPConnection


def grpc_healthy(socket_path: Path, timeout: float = 1.0) -> bool:
    """True when the server on `socket_path` reports SERVING overall."""
    if not socket_path.exists():
        return False
    with grpc.insecure_channel(f"unix://{socket_path}") as channel:
        # The method by name: the health stubs' HealthStub declares no methods.
        check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            reply = check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def gateway_pings(socket_path: Path, timeout: float = 1.0) -> bool:
    """True when the Docker API socket answers GET /_ping with 200."""
    if not socket_path.exists():
        return False
    conn = UnixHTTPConnection(socket_path, timeout=timeout)
    try:
        conn.request("GET", "/_ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()
