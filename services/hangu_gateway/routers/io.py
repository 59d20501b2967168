"""Container I/O: attach and exec (hijacked connections), wait, logs and
terminal resizes."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections.abc import Callable
from typing import Any

import grpc
from aiohttp import web

from hangu.container.v1 import container_pb2 as cpb
from hangu_runtime import logging as hlog
from hangu_runtime.times import rfc3339

from .. import hijack, versions
from ..errors import bad_request
from ..keys import api_version, backends
from .common import json_body, json_response, qbool, qint, query_time
from .containers import get_container

log = hlog.get_logger("hangu.gateway.io")


async def _pump(
    hj: hijack.Hijacked,
    call: Any,
    tty: bool,
    stdin_message: Callable[[bytes], Any],
    close_message: Any,
) -> None:
    """Client bytes → stdin messages; output chunks → the client, raw with a
    TTY, framed without. Ends when the output ends or the client goes away."""

    async def forward_input() -> None:
        assert hj.stream is not None
        while True:
            data = await hj.stream.read()
            try:
                if not data:
                    if not hj.stream.lost.is_set():
                        # A half-close: the client has no more input. The
                        # process must see EOF; output keeps flowing.
                        await call.write(close_message)
                    return
                await call.write(stdin_message(data))
            except asyncio.InvalidStateError:
                # The call has ended (the process exited or failed to
                # start) while the client was still sending: nothing to do.
                return

    async def forward_output() -> None:
        async for chunk in call:
            if chunk.data:
                await hj.write(chunk.data if tty else hijack.frame(chunk.stream, chunk.data))
            if chunk.exited:
                return

    tasks = [asyncio.create_task(forward_output())]
    input_task = asyncio.create_task(forward_input()) if hj.stream else None
    lost = asyncio.create_task(hj.stream.lost.wait()) if hj.stream else None
    try:
        waiting = {tasks[0], *([lost] if lost else [])}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (tasks[0], input_task, lost):
            if task is not None and not task.done():
                task.cancel()
        call.cancel()
        for task in (tasks[0], input_task):
            if task is not None:
                with contextlib.suppress(
                    asyncio.CancelledError, grpc.aio.AioRpcError, ConnectionError
                ):
                    await task
        hj.close()


async def attach(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    c = await get_container(request, ref)
    if not any(qbool(request, k) for k in ("stdin", "stdout", "stderr")) and not qbool(
        request, "logs"
    ):
        raise bad_request("at least one of stdin, stdout or stderr must be requested")
    tty = c.config.tty
    call = backends(request).container.Attach()
    await call.write(
        cpb.AttachRequest(
            reference=c.id,
            stdin=qbool(request, "stdin"),
            stdout=qbool(request, "stdout"),
            stderr=qbool(request, "stderr"),
            stream=qbool(request, "stream"),
            logs=qbool(request, "logs"),
            detach_keys=request.query.get("detachKeys", ""),
        )
    )
    # The service's first answer says the session is registered: only then
    # may the client start the container and see all its output (an error
    # here, such as a container removed meanwhile, is still a plain answer).
    await call.read()
    hj = await hijack.hijack(request, tty)
    # Stdin sent before the container starts waits in the container
    # service, which hands it on once `runc start` has returned.
    await _pump(
        hj,
        call,
        tty,
        lambda data: cpb.AttachRequest(stdin_data=data),
        cpb.AttachRequest(close_stdin=True),
    )
    return hj.response


async def wait(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    condition = request.query.get("condition", "") or "not-running"
    if condition not in ("not-running", "next-exit", "removed"):
        raise bad_request(f"invalid condition: {condition!r}")
    c = await get_container(request, ref)
    call = backends(request).container.Wait(
        cpb.WaitContainerRequest(reference=c.id, condition=condition)
    )
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    # The header goes out at once (API >= 1.30) so the client knows the
    # wait is registered before it starts the container.
    early = versions.at_least(api_version(request), "1.30")
    if early:
        await response.prepare(request)
    try:
        result = await call
        body: dict[str, Any] = {
            "Error": {"Message": result.error} if result.error else None,
            "StatusCode": result.status_code,
        }
    except grpc.aio.AioRpcError as err:
        if not early:
            raise
        body = {"Error": {"Message": err.details() or err.code().name}, "StatusCode": -1}
    if not early:
        await response.prepare(request)
    await response.write(json.dumps(body).encode() + b"\n")
    await response.write_eof()
    return response


async def resize(request: web.Request) -> web.StreamResponse:
    size = cpb.TerminalSize(height=qint(request, "h", 0) or 0, width=qint(request, "w", 0) or 0)
    await backends(request).container.Resize(
        cpb.ResizeRequest(reference=request.match_info["id"], size=size)
    )
    return web.Response(status=200)


def _log_time(chunk: cpb.OutputChunk) -> bytes:
    """jsonmessage.RFC3339NanoFixed, as `docker logs -t` prints."""
    return f"{rfc3339(chunk.time, 'fixed')} ".encode()


async def logs(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    stdout, stderr = qbool(request, "stdout"), qbool(request, "stderr")
    if not (stdout or stderr):
        raise bad_request("Bad parameters: you must choose at least one stream")
    c = await get_container(request, ref)
    tail_raw = request.query.get("tail", "all")
    try:
        tail = -1 if tail_raw in ("", "all") else int(tail_raw)
    except ValueError:
        tail = -1
    req = cpb.LogsRequest(
        reference=c.id, follow=qbool(request, "follow"), stdout=stdout, stderr=stderr, tail=tail
    )
    since = query_time(request, "since", '"since"')
    until = query_time(request, "until", '"until"')
    if since is not None and (since.seconds or since.nanos):
        req.since.CopyFrom(since)
    if until is not None and (until.seconds or until.nanos):
        req.until.CopyFrom(until)
    timestamps = qbool(request, "timestamps")
    tty = c.config.tty
    call = backends(request).container.Logs(req)
    response = web.StreamResponse(status=200)
    response.content_type = hijack.RAW_STREAM if tty else hijack.MULTIPLEXED_STREAM
    await response.prepare(request)
    try:
        async for chunk in call:
            data = (_log_time(chunk) if timestamps else b"") + chunk.data
            await response.write(data if tty else hijack.frame(chunk.stream, data))
    except grpc.aio.AioRpcError as err:
        # The header is out: like dockerd, end the stream (and say why in our log).
        log.warning("logs_stream_failed", code=err.code().name, details=err.details())
    finally:
        call.cancel()  # the client went away during `logs -f`: stop following
    await response.write_eof()
    return response


# ----------------------------------------------------------------- exec


def _fields(body: Any) -> dict[str, Any]:
    """A JSON object's members by lower-cased name: Go's decoder matches
    names without regard to case (docker-py sends `detachKeys`)."""
    if not isinstance(body, dict):
        return {}
    return {str(k).lower(): v for k, v in body.items()}


async def exec_create(request: web.Request) -> web.StreamResponse:
    ref = request.match_info["id"]
    body = _fields(await json_body(request))
    cmd = body.get("cmd") or []
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd:
        raise bad_request("No exec command specified")
    resp = await backends(request).container.CreateExec(
        cpb.CreateExecRequest(
            reference=ref,
            attach_stdin=bool(body.get("attachstdin")),
            attach_stdout=bool(body.get("attachstdout")),
            attach_stderr=bool(body.get("attachstderr")),
            detach_keys=body.get("detachkeys") or "",
            tty=bool(body.get("tty")),
            env=body.get("env") or [],
            cmd=cmd,
            privileged=bool(body.get("privileged")),
            user=body.get("user") or "",
            working_dir=body.get("workingdir") or "",
            console_size=body.get("consolesize") or [],
        )
    )
    return json_response({"Id": resp.id}, status=201)


async def _exec_inspect(request: web.Request, exec_id: str) -> cpb.Exec:
    return await backends(request).container.GetExec(cpb.GetExecRequest(exec_id=exec_id))


async def exec_start(request: web.Request) -> web.StreamResponse:
    exec_id = request.match_info["id"]
    body = _fields(await json_body(request, required=False))
    await _exec_inspect(request, exec_id)  # a missing exec is a plain 404
    detach = bool(body.get("detach"))
    # As dockerd: the start's Tty alone says whether the client's stream is
    # raw or framed (docker-py starts a TTY exec with Tty false and reads
    # frames); the process has a terminal if the exec was created with one.
    tty = bool(body.get("tty"))
    call = backends(request).container.StartExec()
    first = cpb.StartExecRequest(exec_id=exec_id, detach=detach, tty=tty)
    size = body.get("consolesize") or []
    if len(size) == 2 and size[0] and size[1]:
        first.resize.CopyFrom(cpb.TerminalSize(height=size[0], width=size[1]))
    await call.write(first)
    if detach:
        async for _ in call:
            pass
        return web.Response(status=200)  # dockerd: no body
    hj = await hijack.hijack(request, tty)
    # The service's first answer says the process runs; until then nothing
    # is written to the call (client bytes wait in the hijacked stream), so
    # a failed start is always its own status, never a race with our
    # writes. As dockerd, the header is out by then and the error is the
    # stream's one stdout line (`docker exec` prints it).
    try:
        await call.read()
    except grpc.aio.AioRpcError as err:
        text = (err.details() or err.code().name).encode() + b"\r\n"
        with contextlib.suppress(ConnectionError):
            await hj.write(text if tty else hijack.frame(hijack.STDOUT, text))
        hj.close()
        return hj.response
    await _pump(
        hj,
        call,
        tty,
        lambda data: cpb.StartExecRequest(stdin_data=data),
        cpb.StartExecRequest(close_stdin=True),
    )
    return hj.response


async def exec_resize(request: web.Request) -> web.StreamResponse:
    size = cpb.TerminalSize(height=qint(request, "h", 0) or 0, width=qint(request, "w", 0) or 0)
    await backends(request).container.ResizeExec(
        cpb.ResizeExecRequest(exec_id=request.match_info["id"], size=size)
    )
    return web.Response(status=200)


async def exec_inspect(request: web.Request) -> web.StreamResponse:
    e = await _exec_inspect(request, request.match_info["id"])
    process: dict[str, Any] = {
        "tty": e.tty,
        "entrypoint": e.entrypoint,
        "arguments": list(e.arguments),
        "privileged": e.privileged,
    }
    if e.user:  # omitempty in dockerd's ExecProcessConfig
        process["user"] = e.user
    return json_response(
        {
            "CanRemove": False,
            "ContainerID": e.container_id,
            # dockerd's []byte: base64 in JSON ("" when none were given).
            "DetachKeys": base64.b64encode(e.detach_keys).decode(),
            "ID": e.id,
            "Running": e.running,
            "ExitCode": e.exit_code if e.HasField("exit_code") else None,
            "ProcessConfig": process,
            "OpenStdin": e.open_stdin,
            "OpenStderr": e.open_stderr,
            "OpenStdout": e.open_stdout,
            "Pid": e.pid,
        }
    )


ROUTES = [
    ("POST", "/containers/{id}/attach", attach),
    ("POST", "/containers/{id}/wait", wait),
    ("POST", "/containers/{id}/resize", resize),
    ("GET", "/containers/{id}/logs", logs),
    ("POST", "/containers/{id}/exec", exec_create),
    ("POST", "/exec/{id}/start", exec_start),
    ("POST", "/exec/{id}/resize", exec_resize),
    ("GET", "/exec/{id}/json", exec_inspect),
]
