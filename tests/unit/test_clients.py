"""The client interceptors put the current request id on every kind of
call (unary and streaming, synchronous and grpc.aio), and nothing when no
request is being served. A generic bytes-in, bytes-out service stands in
for the four: the rule knows nothing of their protos."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from hangu_runtime import logging as hlog
from hangu_runtime.clients import CHANNEL_OPTIONS, aio_interceptors, peer_channel

SERVICE = "hangu.test.Echo"


def _rid(context: Any) -> str:
    return dict(context.invocation_metadata()).get(hlog.REQUEST_ID_KEY, "")


def _sync_handlers() -> grpc.GenericRpcHandler:
    def uu(request: bytes, context: Any) -> bytes:
        return _rid(context).encode()

    def us(request: bytes, context: Any) -> Iterator[bytes]:
        yield _rid(context).encode()

    def su(requests: Iterator[bytes], context: Any) -> bytes:
        return b"".join(requests) + _rid(context).encode()

    def ss(requests: Iterator[bytes], context: Any) -> Iterator[bytes]:
        for r in requests:
            yield r + _rid(context).encode()

    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "UU": grpc.unary_unary_rpc_method_handler(uu),
            "US": grpc.unary_stream_rpc_method_handler(us),
            "SU": grpc.stream_unary_rpc_method_handler(su),
            "SS": grpc.stream_stream_rpc_method_handler(ss),
        },
    )


def test_sync_peer_channel_passes_the_request_id(tmp_path: Path) -> None:
    target = f"unix://{tmp_path}/echo.sock"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((_sync_handlers(),))
    server.add_insecure_port(target)
    server.start()
    channel = peer_channel(target)
    try:
        uu = channel.unary_unary(f"/{SERVICE}/UU")
        us = channel.unary_stream(f"/{SERVICE}/US")
        su = channel.stream_unary(f"/{SERVICE}/SU")
        ss = channel.stream_stream(f"/{SERVICE}/SS")
        assert uu(b"", timeout=5) == b""  # no request being served: no id
        token = hlog.request_id.set("rid-sync")
        try:
            assert uu(b"", timeout=5) == b"rid-sync"
            assert list(us(b"", timeout=5)) == [b"rid-sync"]
            assert su(iter([b"a", b"b"]), timeout=5) == b"abrid-sync"
            assert list(ss(iter([b"x"]), timeout=5)) == [b"xrid-sync"]
            # The caller's own metadata stays beside the id.
            assert uu(b"", metadata=(("other", "1"),), timeout=5) == b"rid-sync"
        finally:
            hlog.request_id.reset(token)
    finally:
        channel.close()
        server.stop(None)


def test_aio_interceptor_passes_the_request_id(tmp_path: Path) -> None:
    target = f"unix://{tmp_path}/echo-aio.sock"

    async def uu(request: bytes, context: Any) -> bytes:
        return _rid(context).encode()

    async def us(request: bytes, context: Any) -> AsyncIterator[bytes]:
        yield _rid(context).encode()

    async def su(requests: AsyncIterator[bytes], context: Any) -> bytes:
        return b"".join([r async for r in requests]) + _rid(context).encode()

    async def ss(requests: AsyncIterator[bytes], context: Any) -> AsyncIterator[bytes]:
        async for r in requests:
            yield r + _rid(context).encode()

    async def go() -> None:
        server = aio.server()
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    SERVICE,
                    {
                        "UU": grpc.unary_unary_rpc_method_handler(uu),
                        "US": grpc.unary_stream_rpc_method_handler(us),
                        "SU": grpc.stream_unary_rpc_method_handler(su),
                        "SS": grpc.stream_stream_rpc_method_handler(ss),
                    },
                ),
            )
        )
        server.add_insecure_port(target)
        await server.start()
        channel = aio.insecure_channel(
            target, options=CHANNEL_OPTIONS, interceptors=aio_interceptors()
        )
        try:
            uu_call = channel.unary_unary(f"/{SERVICE}/UU")
            assert await uu_call(b"", timeout=5) == b""
            token = hlog.request_id.set("rid-aio")
            try:
                assert await uu_call(b"", timeout=5) == b"rid-aio"
                us_call = channel.unary_stream(f"/{SERVICE}/US")
                assert [r async for r in us_call(b"", timeout=5)] == [b"rid-aio"]

                async def two() -> AsyncIterator[bytes]:
                    yield b"a"
                    yield b"b"

                su_call = channel.stream_unary(f"/{SERVICE}/SU")
                assert await su_call(two(), timeout=5) == b"abrid-aio"
                # As attach and exec use it: no iterator, write() and read().
                bidi = channel.stream_stream(f"/{SERVICE}/SS")(timeout=5)
                await bidi.write(b"x")
                assert await bidi.read() == b"xrid-aio"
                await bidi.done_writing()
                assert await bidi.code() == grpc.StatusCode.OK
                # A failing call still raises the service's error.
                missing = channel.unary_unary(f"/{SERVICE}/Nope")
                try:
                    await missing(b"", timeout=5)
                except aio.AioRpcError as err:
                    assert err.code() == grpc.StatusCode.UNIMPLEMENTED
                else:
                    raise AssertionError("expected UNIMPLEMENTED")
            finally:
                hlog.request_id.reset(token)
        finally:
            await channel.close()
            await server.stop(None)

    asyncio.run(asyncio.wait_for(go(), 20))


def test_a_call_waits_for_a_peer_that_is_restarting(tmp_path: Path) -> None:
    """A peer that refuses connections (the supervisor is restarting it) is
    waited for once, for a few seconds: the call succeeds when it is back,
    and one that stays down still answers UNAVAILABLE, not a timeout."""
    import threading
    import time

    from hangu_runtime.clients import call_peer as _call

    target = f"unix://{tmp_path}/late.sock"
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((_sync_handlers(),))
    server.add_insecure_port(target)
    starter = threading.Timer(0.5, server.start)
    starter.start()
    channel = peer_channel(target)
    try:
        uu = channel.unary_unary(f"/{SERVICE}/UU")
        assert _call(uu, b"", timeout=30) == b""
    finally:
        starter.join()
        channel.close()
        server.stop(None)

    from hangu_runtime.errors import Unavailable

    down = peer_channel(f"unix://{tmp_path}/never.sock")
    try:
        t0 = time.monotonic()
        try:
            _call(down.unary_unary(f"/{SERVICE}/UU"), b"", timeout=30)
        except Unavailable:
            pass
        else:
            raise AssertionError("expected Unavailable")
        assert time.monotonic() - t0 < 10
    finally:
        down.close()


def test_aio_call_waits_for_a_peer_that_is_restarting(tmp_path: Path) -> None:
    target = f"unix://{tmp_path}/late-aio.sock"

    async def uu(request: bytes, context: Any) -> bytes:
        return b"back"

    async def go() -> None:
        server = aio.server()
        server.add_generic_rpc_handlers(
            (
                grpc.method_handlers_generic_handler(
                    SERVICE, {"UU": grpc.unary_unary_rpc_method_handler(uu)}
                ),
            )
        )
        server.add_insecure_port(target)

        async def start_late() -> None:
            await asyncio.sleep(0.5)
            await server.start()

        channel = aio.insecure_channel(target, interceptors=aio_interceptors())
        late = asyncio.create_task(start_late())
        try:
            assert await channel.unary_unary(f"/{SERVICE}/UU")(b"", timeout=30) == b"back"
        finally:
            await late
            await channel.close()
            await server.stop(None)
        down = aio.insecure_channel(
            f"unix://{tmp_path}/never-aio.sock", interceptors=aio_interceptors()
        )
        try:
            await down.unary_unary(f"/{SERVICE}/UU")(b"", timeout=30)
        except aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE
        else:
            raise AssertionError("expected UNAVAILABLE")
        finally:
            await down.close()

    asyncio.run(asyncio.wait_for(go(), 30))
