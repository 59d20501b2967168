"""gRPC server bootstrap shared by the four services.

Synchronous servicers on a thread pool: the services' work is blocking
kernel work. The pool is sized for long-lived streams (logs -f, attach,
wait, events) and `maximum_concurrent_rpcs` caps what runs at once, so an
overload is refused with RESOURCE_EXHAUSTED instead of queueing a unary call
behind hundreds of streams. Lifecycle as in uvicorn: configure, start, serve,
and on SIGTERM/SIGINT drain and stop."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from . import logging as hlog
from .errors import HanguError

log = hlog.get_logger("hangu.server")

STOP_WATCHDOG_SECONDS = 50.0


class ErrorAndLogInterceptor(grpc.ServerInterceptor):
    """Binds the request id, logs one line per RPC, and turns HanguError
    into its gRPC status. Streaming handlers are wrapped too: an error raised
    while iterating a response stream is mapped the same way.

    The wrapped handler of each method is made once (grpc asks for it on
    every call): the request id is read from each call's own metadata."""

    def __init__(self) -> None:
        self._wrapped: dict[str, Any] = {}
        self._lock = threading.Lock()

    def intercept_service(
        self, continuation: Callable[..., Any], handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        method = handler_call_details.method
        found = self._wrapped.get(method)
        if found is not None:
            return found
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        wrapped = _wrap(method, handler)
        with self._lock:
            self._wrapped[method] = wrapped
        return wrapped


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == hlog.REQUEST_ID_KEY:
            return str(value)
    return ""


@contextlib.contextmanager
def _served(method: str, context: grpc.ServicerContext, stream: bool = False) -> Iterator[None]:
    """One RPC: its request id bound, a HanguError turned into its status,
    and one log line with its time."""
    token = hlog.request_id.set(_request_id(context))
    start = time.monotonic()
    code = "OK"
    try:
        yield
    except HanguError as err:
        code = err.code.name
        context.abort(err.code, err.message)
    except Exception:
        code = "INTERNAL"
        log.exception("rpc_failed", method=method)
        raise
    finally:
        extra = {"stream": True} if stream else {}
        log.info(
            "rpc", method=method, code=code, **extra, ms=round((time.monotonic() - start) * 1000, 2)
        )
        hlog.request_id.reset(token)


def _wrap(method: str, handler: Any) -> Any:
    def wrap_unary(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            with _served(method, context):
                return fn(request, context)

        return call

    def wrap_stream(fn: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Iterable[Any]:
            with _served(method, context, stream=True):
                yield from fn(request, context)

        return call

    if handler.unary_unary:
        return grpc.unary_unary_rpc_method_handler(
            wrap_unary(handler.unary_unary),
            handler.request_deserializer,
            handler.response_serializer,
        )
    if handler.stream_unary:
        return grpc.stream_unary_rpc_method_handler(
            wrap_unary(handler.stream_unary),
            handler.request_deserializer,
            handler.response_serializer,
        )
    if handler.unary_stream:
        return grpc.unary_stream_rpc_method_handler(
            wrap_stream(handler.unary_stream),
            handler.request_deserializer,
            handler.response_serializer,
        )
    return grpc.stream_stream_rpc_method_handler(
        wrap_stream(handler.stream_stream),
        handler.request_deserializer,
        handler.response_serializer,
    )


def build_server(max_workers: int, max_concurrent: int) -> grpc.Server:
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=[ErrorAndLogInterceptor()],
        maximum_concurrent_rpcs=max_concurrent,
        options=[
            ("grpc.max_receive_message_length", 64 * 1024 * 1024),
            ("grpc.max_send_message_length", 64 * 1024 * 1024),
        ],
    )


def raise_open_files_limit() -> int:
    """The soft limit of open files up to the hard one (never above it: that
    fails without CAP_SYS_RESOURCE): a service holds some per container (the
    network service two resolver sockets each). Returns the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (OSError, ValueError):
        return soft
    return hard


def serve(
    name: str,
    socket_path: Path,
    register: Callable[[grpc.Server], list[str]],
    max_workers: int = 512,
    max_concurrent: int = 480,
    on_stop: Callable[[], None] | None = None,
) -> None:
    """Run one service until SIGTERM/SIGINT.

    `register` adds the servicers to the server and returns their full
    service names (for health and reflection)."""
    server = build_server(max_workers, max_concurrent)
    names = register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )

    socket_path.parent.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        socket_path.unlink()
    server.add_insecure_port(f"unix://{socket_path}")
    server.start()
    os.chmod(socket_path, 0o660)
    for service in ["", *names]:
        health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving", name=name, socket=str(socket_path), pid=os.getpid())

    stopping: list[str] = []  # the signal's name, once one came

    def _stop(signum: int, _: Any) -> None:
        # Only a flag: a handler runs between two bytecodes of the main
        # thread, which may be holding any lock (an Event's, logging's).
        stopping.append(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # `kill -USR1 <pid>`: every thread's stack on stderr, for a service
    # that hangs (no restart, no debugger needed).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # Short sleeps, not one blocking wait: a SIGTERM that the kernel
    # delivers to one of gRPC's threads does not wake a main thread blocked
    # in a lock, so its handler would never run (seen: a service that never
    # stopped).
    while not stopping:
        time.sleep(0.1)
    log.info("stopping", name=name, signal=stopping[0])
    # A stop that hangs leaves every thread's stack in the log and exits,
    # before the supervisor's SIGKILL (60 s) would end it without a word.
    faulthandler.dump_traceback_later(STOP_WATCHDOG_SECONDS, exit=True)
    health_servicer.enter_graceful_shutdown()
    # Long-lived streams (attach, logs -f, events) would hold a drain forever:
    # give unary calls a moment, then cancel what is left.
    server.stop(grace=3).wait()
    if on_stop is not None:
        on_stop()
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    # The watchdog stays armed: the interpreter's exit still joins worker
    # threads, and one stuck in a handler would hold the process there.
    log.info("stopped", name=name)
