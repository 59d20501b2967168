"""Pull progress through the gateway against a stand-in image service: the
header waits for the first message (early failures are HTTP errors), later
failures go in the stream; X-Registry-Auth reaches the service."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.image.v1 import image_pb2 as ipb
from hangu.image.v1 import image_pb2_grpc
from hangu_gateway.main import Gateway
from hangu_runtime.config import Settings


class FakeImages(image_pb2_grpc.ImageServiceServicer):
    def __init__(self) -> None:
        self.auth: list[ipb.RegistryAuth] = []
        self.references: list[str] = []

    async def Pull(self, request: ipb.PullRequest, context: Any) -> AsyncIterator[ipb.Progress]:
        self.auth.append(request.auth)
        self.references.append(request.reference)
        if request.reference.startswith("missing"):
            await context.abort(grpc.StatusCode.NOT_FOUND, "pull access denied for missing")
        yield ipb.Progress(id="latest", status="Pulling from library/x")
        yield ipb.Progress(id="abc", status="Downloading", current=50, total=100)
        if request.reference.startswith("broken"):
            await context.abort(grpc.StatusCode.INTERNAL, "digest mismatch")
        yield ipb.Progress(status="Status: Downloaded newer image for x:latest")


@pytest.fixture
def tmp() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hgt-gw-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def _post(sock: Path, path: str, headers: str = "") -> tuple[int, bytes]:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(f"POST {path} HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n{headers}\r\n".encode())
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def test_pull_streams(tmp: Path) -> None:
    async def go() -> None:
        settings = Settings(root=tmp / "root", run=tmp)
        settings.grpc_dir.mkdir(parents=True, exist_ok=True)
        fake = FakeImages()
        server = grpc.aio.server()
        image_pb2_grpc.add_ImageServiceServicer_to_server(fake, server)
        server.add_insecure_port(settings.grpc_target("image"))
        await server.start()
        gateway = Gateway(settings)
        await gateway.start()
        sock = tmp / "hangu.sock"
        try:
            auth = base64.urlsafe_b64encode(
                json.dumps({"username": "u", "password": "p", "serveraddress": "r"}).encode()
            ).decode()
            status, body = await _post(
                sock,
                "/v1.47/images/create?fromImage=ok&tag=1",
                f"X-Registry-Auth: {auth.rstrip('=')}\r\n",
            )
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            assert status == 200
            assert lines[1]["progressDetail"] == {"current": 50, "total": 100}
            assert lines[1]["progress"].startswith("[=========================>")
            assert lines[-1]["status"].startswith("Status: Downloaded")
            assert fake.references[-1] == "ok:1"
            assert (fake.auth[-1].username, fake.auth[-1].password) == ("u", "p")

            status, body = await _post(sock, "/images/create?fromImage=missing&tag=latest")
            assert status == 404
            assert json.loads(body) == {"message": "pull access denied for missing"}

            status, body = await _post(sock, "/images/create?fromImage=broken&tag=latest")
            lines = [json.loads(line) for line in body.splitlines() if line.strip()]
            assert status == 200
            assert lines[-1] == {
                "errorDetail": {"message": "digest mismatch"},
                "error": "digest mismatch",
            }
        finally:
            await gateway.stop()
            await server.stop(None)

    asyncio.run(asyncio.wait_for(go(), 20))
