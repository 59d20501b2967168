"""Client-side request ids: every call to a peer's gRPC API carries the id
of the request being served (`x-request-id`), so one docker command can be
followed through every service's log. The mirror of the server interceptor
in server.py.

Two flavours of one rule: synchronous channels, from one service to a peer
(`peer_channel`), and grpc.aio channels, from the gateway
(`aio_interceptors()`, installed by hangu_gateway.backends)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc
from grpc import aio

from . import logging as hlog
from .errors import from_rpc_error

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")

MESSAGE_LIMIT = 64 * 1024 * 1024
# Options every hangu channel shares: large messages (layer chunks, inspect
# answers with many mounts) in both directions.
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.max_receive_message_length", MESSAGE_LIMIT),
    ("grpc.max_send_message_length", MESSAGE_LIMIT),
]


# A peer the supervisor is restarting (after a crash) refuses connections
# for a second or two: a call that could not even connect waits this long
# for it once, instead of failing the docker command.
PEER_RESTART_WAIT = 5.0


def never_connected(err: grpc.RpcError) -> bool:
    """The call failed before reaching the peer (nothing was done there), so
    it is safe to send again."""
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else "") or ""
    return code == grpc.StatusCode.UNAVAILABLE and details.startswith(
        "failed to connect to all addresses"
    )


def _request_id_pair() -> tuple[str, str] | None:
    rid = hlog.request_id.get()
    return (hlog.REQUEST_ID_KEY, rid) if rid else None


# ------------------------------------------------------------ synchronous


@dataclass
class _CallDetails(grpc.ClientCallDetails):
    """grpc has no concrete ClientCallDetails for synchronous channels; its
    interceptor machinery only reads these attributes."""

    method: str
    timeout: float | None
    metadata: tuple[tuple[str, str | bytes], ...] | None
    credentials: grpc.CallCredentials | None
    wait_for_ready: bool | None
    compression: grpc.Compression | None


def _with_request_id(details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
    pair = _request_id_pair()
    if pair is None:
        return details
    return _CallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=(*(details.metadata or ()), pair),
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
        compression=details.compression,
    )


# The annotations use the stubs' own call types (type-check-only names, as
# in grpc-stubs' interceptor signatures), never evaluated at run time.
class _RequestIdInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Req], grpc._CallFuture[_Resp]],
        client_call_details: grpc.ClientCallDetails,
        request: _Req,
    ) -> grpc._CallFuture[_Resp]:
        return continuation(_with_request_id(client_call_details), request)

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Req], grpc._CallIterator[_Resp]],
        client_call_details: grpc.ClientCallDetails,
        request: _Req,
    ) -> grpc._CallIterator[_Resp]:
        return continuation(_with_request_id(client_call_details), request)

    def intercept_stream_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Iterator[_Req]], grpc._CallFuture[_Resp]],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[_Req],
    ) -> grpc._CallFuture[_Resp]:
        return continuation(_with_request_id(client_call_details), request_iterator)

    def intercept_stream_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, Iterator[_Req]], grpc._CallIterator[_Resp]],
        client_call_details: grpc.ClientCallDetails,
        request_iterator: Iterator[_Req],
    ) -> grpc._CallIterator[_Resp]:
        return continuation(_with_request_id(client_call_details), request_iterator)


PEER_TIMEOUT = 120.0
_T = TypeVar("_T")


def call_peer(fn: Callable[..., _T], request: object, timeout: float = PEER_TIMEOUT) -> _T:
    """One unary call to a peer service, its errors as HanguError with their
    code. A peer being restarted (nothing reached it) is waited for once."""
    try:
        try:
            return fn(request, timeout=timeout)
        except grpc.RpcError as err:
            if not never_connected(err):
                raise
            try:
                return fn(request, timeout=min(timeout, PEER_RESTART_WAIT), wait_for_ready=True)
            except grpc.RpcError as again:
                if again.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    raise err from None  # still down: unavailable, not a timeout
                raise
    except grpc.RpcError as err:
        raise from_rpc_error(err) from None


def peer_channel(target: str) -> grpc.Channel:
    """A synchronous channel to a peer service (`unix:///run/hangu/grpc/x.sock`)."""
    channel = grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    return grpc.intercept_channel(channel, _RequestIdInterceptor())


# --------------------------------------------------------------- grpc.aio


def _aio_with_request_id(details: aio.ClientCallDetails) -> aio.ClientCallDetails:
    pair = _request_id_pair()
    if pair is None:
        return details
    metadata = aio.Metadata(*(details.metadata or ()))
    metadata.add(*pair)
    return aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


# grpc.aio files a channel's interceptor under the first of the four kinds
# it is an instance of (an if/elif chain, grpc/grpc#31442), so one class
# implementing all four would see unary-unary calls only: the one rule is
# four small classes, installed together by aio_interceptors().


class _AioUnaryUnary(aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, _Req], Awaitable[aio.UnaryUnaryCall[_Req, _Resp]]
        ],
        client_call_details: aio.ClientCallDetails,
        request: _Req,
    ) -> aio.UnaryUnaryCall[_Req, _Resp]:
        details = _aio_with_request_id(client_call_details)
        call = await continuation(details, request)
        try:
            await call
        except aio.AioRpcError as err:
            if not never_connected(err):
                return call
            timeout = details.timeout
            retry = await continuation(
                aio.ClientCallDetails(
                    method=details.method,
                    timeout=min(timeout, PEER_RESTART_WAIT) if timeout else PEER_RESTART_WAIT,
                    metadata=details.metadata,
                    credentials=details.credentials,
                    wait_for_ready=True,
                ),
                request,
            )
            try:
                await retry
            except aio.AioRpcError as again:
                if again.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                    return call  # still down: the first answer (unavailable)
            return retry
        return call


class _AioUnaryStream(aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, _Req], Awaitable[aio.UnaryStreamCall[_Req, _Resp]]
        ],
        client_call_details: aio.ClientCallDetails,
        request: _Req,
    ) -> aio.UnaryStreamCall[_Req, _Resp]:
        return await continuation(_aio_with_request_id(client_call_details), request)


class _AioStreamUnary(aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, AsyncIterable[_Req] | Iterable[_Req]],
            Awaitable[aio.StreamUnaryCall[_Req, _Resp]],
        ],
        client_call_details: aio.ClientCallDetails,
        request_iterator: AsyncIterable[_Req] | Iterable[_Req],
    ) -> aio.StreamUnaryCall[_Req, _Resp]:
        return await continuation(_aio_with_request_id(client_call_details), request_iterator)


class _AioStreamStream(aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, AsyncIterable[_Req] | Iterable[_Req]],
            Awaitable[aio.StreamStreamCall[_Req, _Resp]],
        ],
        client_call_details: aio.ClientCallDetails,
        request_iterator: AsyncIterable[_Req] | Iterable[_Req],
    ) -> aio.StreamStreamCall[_Req, _Resp]:
        return await continuation(_aio_with_request_id(client_call_details), request_iterator)


def aio_interceptors() -> list[aio.ClientInterceptor]:
    """The request-id interceptor of a grpc.aio channel, for every kind of
    call, so callers pass no `metadata=` of their own:
    `aio.insecure_channel(target, interceptors=aio_interceptors())`."""
    return [_AioUnaryUnary(), _AioUnaryStream(), _AioStreamUnary(), _AioStreamStream()]
