"""The gateway over its real unix socket, against a stand-in container
service (grpc.aio): hijack (101, frames, stdin, half-close), wait streaming,
errors and request ids."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.container.v1 import container_pb2 as cpb
from hangu.container.v1 import container_pb2_grpc
from hangu_gateway import hijack
from hangu_gateway.main import Gateway
from hangu_runtime.config import Settings


class FakeContainers(container_pb2_grpc.ContainerServiceServicer):
    def __init__(self) -> None:
        self.attach_requests: list[cpb.AttachRequest] = []
        self.request_ids: list[str] = []
        self.started = False
        self.start_event = asyncio.Event()

    async def Get(self, request: cpb.GetContainerRequest, context: Any) -> cpb.Container:
        self.request_ids += [v for k, v in context.invocation_metadata() if k == "x-request-id"]
        if request.reference.startswith("nosuch"):
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"No such container: {request.reference}"
            )
        c = cpb.Container(id=request.reference.ljust(64, "0"), name=request.reference)
        c.config.tty = request.reference.startswith("tty")
        # "new…" containers are created, not started, until Start is called.
        c.state.running = not request.reference.startswith("new") or self.started
        c.state.status = "running" if c.state.running else "created"
        return c

    async def Start(
        self, request: cpb.StartContainerRequest, context: Any
    ) -> cpb.StartContainerResponse:
        self.started = True
        self.start_event.set()
        return cpb.StartContainerResponse()

    async def Create(self, request: cpb.CreateContainerRequest, context: Any) -> cpb.Container:
        if request.config.image == "nosuchimage":
            await context.abort(grpc.StatusCode.NOT_FOUND, "No such image: nosuchimage")
        if request.name == "taken":
            await context.abort(
                grpc.StatusCode.ALREADY_EXISTS,
                'Conflict. The container name "/taken" is already in use',
            )
        return cpb.Container(id="c" * 64)

    async def Attach(
        self, request_iterator: AsyncIterator[cpb.AttachRequest], context: Any
    ) -> AsyncIterator[cpb.OutputChunk]:
        created = False
        async for req in request_iterator:
            self.attach_requests.append(req)
            if req.reference:
                created = req.reference.startswith("new") and not self.started
                yield cpb.OutputChunk(attached=True)  # as the real service
            if req.stdin_data and created:
                # As the real service: stdin sent before the start waits
                # until the container runs.
                await self.start_event.wait()
            if req.stdin_data:
                yield cpb.OutputChunk(stream=cpb.OutputChunk.STDOUT, data=req.stdin_data.upper())
            if req.close_stdin:
                await asyncio.sleep(0.05)  # output after stdin EOF must still arrive
                yield cpb.OutputChunk(stream=cpb.OutputChunk.STDERR, data=b"eof seen")
                return

    async def Wait(
        self, request: cpb.WaitContainerRequest, context: Any
    ) -> cpb.WaitContainerResponse:
        await asyncio.sleep(0.3)
        return cpb.WaitContainerResponse(status_code=3)


@pytest.fixture
def tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hgt-gw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _stack(tmp: Path) -> tuple[Gateway, grpc.aio.Server, FakeContainers]:
    settings = Settings(root=tmp / "root", run=tmp)
    settings.grpc_dir.mkdir(parents=True, exist_ok=True)
    fake = FakeContainers()
    server = grpc.aio.server()
    container_pb2_grpc.add_ContainerServiceServicer_to_server(fake, server)
    server.add_insecure_port(settings.grpc_target("container"))
    await server.start()
    gateway = Gateway(settings)
    await gateway.start()
    return gateway, server, fake


async def _request(
    sock: Path, raw: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes]:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    return reader, writer, head


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


ATTACH = (
    b"POST /v1.47/containers/%s/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
    b"Host: api.moby.localhost\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
    b"Content-Length: 0\r\n\r\n"
)


def test_attach_multiplexed_with_half_close(tmp: Path) -> None:
    async def go() -> None:
        gateway, server, fake = await _stack(tmp)
        try:
            reader, writer, head = await _request(tmp / "hangu.sock", ATTACH % b"abc")
            assert head.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
            assert b"Content-Type: application/vnd.docker.multiplexed-stream" in head
            assert b"Upgrade: tcp" in head and b"Connection: Upgrade" in head
            writer.write(b"hello")
            await writer.drain()
            header = await reader.readexactly(8)
            assert header == bytes([1, 0, 0, 0, 0, 0, 0, 5])
            assert await reader.readexactly(5) == b"HELLO"
            writer.write_eof()  # what the docker CLI does at stdin EOF
            rest = await reader.read()  # until the gateway closes
            assert hijack.unframe(rest) == [(2, b"eof seen")]
            writer.close()
            assert fake.attach_requests[0].stdin and fake.attach_requests[0].stream
            assert fake.attach_requests[-1].close_stdin
        finally:
            await gateway.stop()
            await server.stop(None)

    run(go())


def test_stdin_before_the_start_goes_to_the_service(tmp: Path) -> None:
    """The gateway holds nothing back: stdin sent before the start goes to
    the container service at once, which keeps it until `runc start` has
    returned (so no client can wedge a start)."""

    async def go() -> None:
        gateway, server, fake = await _stack(tmp)
        try:
            reader, writer, head = await _request(tmp / "hangu.sock", ATTACH % b"newc")
            assert head.startswith(b"HTTP/1.1 101")
            writer.write(b"early")
            await writer.drain()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(reader.readexactly(8), 0.3)
            assert [r.stdin_data for r in fake.attach_requests if r.stdin_data] == [b"early"]
            status, _, _ = await _get(tmp / "hangu.sock", "POST", "/containers/newc/start")
            assert status == 204
            assert hijack.unframe(await reader.readexactly(13)) == [(1, b"EARLY")]
            writer.close()
        finally:
            await gateway.stop()
            await server.stop(None)

    run(go())


def test_attach_tty_is_raw(tmp: Path) -> None:
    async def go() -> None:
        gateway, server, _ = await _stack(tmp)
        try:
            reader, writer, head = await _request(tmp / "hangu.sock", ATTACH % b"ttyx")
            assert b"application/vnd.docker.raw-stream" in head
            writer.write(b"ls\r")
            assert await reader.readexactly(3) == b"LS\r"
            writer.write_eof()
            assert await reader.read() == b"eof seen"
            writer.close()
        finally:
            await gateway.stop()
            await server.stop(None)

    run(go())


def test_wait_sends_header_first(tmp: Path) -> None:
    async def go() -> None:
        gateway, server, _ = await _stack(tmp)
        try:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            reader, writer, head = await _request(
                tmp / "hangu.sock",
                b"POST /containers/abc/wait?condition=next-exit HTTP/1.1\r\nHost: x\r\n"
                b"Connection: close\r\nContent-Length: 0\r\n\r\n",
            )
            assert head.startswith(b"HTTP/1.1 200")
            assert loop.time() - t0 < 0.25  # before the container exits
            body = await reader.read()
            # chunked: find the JSON in it
            start, end = body.index(b"{"), body.rindex(b"}") + 1
            assert json.loads(body[start:end]) == {"Error": None, "StatusCode": 3}
            writer.close()
        finally:
            await gateway.stop()
            await server.stop(None)

    run(go())


async def _get(
    sock: Path, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, str], Any]:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(
        f"{method} {path} HTTP/1.0\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
        f"Content-Type: application/json\r\n\r\n".encode()
        + body
    )
    data = await reader.read()
    writer.close()
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, json.loads(payload) if payload.strip() else None


def test_errors_in_dockers_form(tmp: Path) -> None:
    async def go() -> None:
        gateway, server, fake = await _stack(tmp)
        sock = tmp / "hangu.sock"
        try:
            status, headers, body = await _get(sock, "GET", "/v1.47/containers/nosuch/json")
            assert status == 404 and body == {"message": "No such container: nosuch"}
            assert headers["Content-Type"] == "application/json"  # exactly, for the Go client
            status, _, body = await _get(sock, "GET", "/v1.99/containers/x/json")
            assert status == 400 and "is too new" in body["message"]
            status, _, body = await _get(sock, "GET", "/nothing/here")
            assert status == 404 and body == {"message": "page not found"}
            status, _, body = await _get(
                sock, "POST", "/containers/create", b'{"Image": "nosuchimage"}'
            )
            assert status == 404 and body == {"message": "No such image: nosuchimage:latest"}
            status, _, body = await _get(
                sock, "POST", "/containers/create?name=taken", b'{"Image": "busybox"}'
            )
            assert status == 409 and "already in use" in body["message"]
            status, _, body = await _get(
                sock, "POST", "/containers/create?name=ok", b'{"Image": "busybox"}'
            )
            assert status == 201 and body == {"Id": "c" * 64, "Warnings": []}
            status, _, body = await _get(sock, "GET", "/volumes")
            assert status == 503  # no volume service here: a clear error, not a hang
            await _get(sock, "GET", "/containers/abc/json")
            assert len(fake.request_ids) >= 2 and len(set(fake.request_ids)) == len(
                fake.request_ids
            )
        finally:
            await gateway.stop()
            await server.stop(None)

    run(go())


def test_system_endpoints(tmp: Path) -> None:
    async def go() -> None:
        gateway, server, _ = await _stack(tmp)
        sock = tmp / "hangu.sock"
        try:
            reader, writer = await asyncio.open_unix_connection(str(sock))
            writer.write(b"HEAD /_ping HTTP/1.0\r\nHost: x\r\n\r\n")
            head = (await reader.read()).decode()
            writer.close()
            assert head.startswith("HTTP/1.1 200") or head.startswith("HTTP/1.0 200")
            for header in (
                "Api-Version: 1.47",
                "Ostype: linux",
                "Docker-Experimental: false",
                "Pragma: no-cache",
                "Builder-Version: ",
                "Cache-Control: no-cache",
            ):
                assert header in head
            status, _, version = await _get(sock, "GET", "/v1.24/version")
            assert status == 200 and version["Platform"]["Name"] == "hangu"
            assert (version["ApiVersion"], version["MinAPIVersion"]) == ("1.47", "1.24")
            assert version["Components"][0]["Name"] == "Engine"
            status, _, info = await _get(sock, "GET", "/info")
            assert status == 200
            assert info["DockerRootDir"] == str(tmp / "root")
            assert (info["Driver"], info["CgroupDriver"]) == ("overlay2", "cgroupfs")
            assert info["Swarm"]["LocalNodeState"] == "inactive" and info["Warnings"] == []
            assert info["Plugins"]["Network"] == ["bridge", "host", "null"]
            assert "runc" in info["Runtimes"] and info["DefaultRuntime"] == "runc"
        finally:
            await gateway.stop()
            await server.stop(None)

    run(go())
