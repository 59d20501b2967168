"""Channels from one service to a peer's gRPC API, passing the request id on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from . import logging as hlog


class _RequestIdInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        rid = hlog.request_id.get()
        if not rid:
            return details
        metadata = list(details.metadata or []) + [(hlog.REQUEST_ID_KEY, rid)]
        return details._replace(metadata=metadata)  # type: ignore[attr-defined]

    def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, request: Any
    ) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: grpc.ClientCallDetails, requests: Any
    ) -> Any:
        return continuation(self._details(details), requests)


def peer_channel(target: str) -> grpc.Channel:
    """A synchronous channel to a peer service (`unix:///run/hangu/grpc/x.sock`)."""
    channel = grpc.insecure_channel(
        target,
        options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ],
    )
    return grpc.intercept_channel(channel, _RequestIdInterceptor())
