"""The image service's view of the container service, for the RUN steps of
a build: create a container, attach to its output, start it, remove it.
Errors come back as HanguError with their code intact."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc

from hangu.container.v1 import container_pb2 as cpb
from hangu.container.v1 import container_pb2_grpc
from hangu_runtime.clients import call_peer, peer_channel
from hangu_runtime.errors import from_rpc_error


class Attachment:
    """A container's output as it comes (Attach with stream=true). The
    request side stays open until `close`, as a client's attach does."""

    def __init__(self, stub: container_pb2_grpc.ContainerServiceStub, cid: str) -> None:
        self._closed = threading.Event()

        def requests() -> Iterator[cpb.AttachRequest]:
            yield cpb.AttachRequest(reference=cid, stdout=True, stderr=True, stream=True)
            self._closed.wait()

        self._call = stub.Attach(requests())
        try:
            # The first answer says the session is registered: a start
            # from now on reaches it, so no output is lost.
            next(self._call)
        except grpc.RpcError as err:
            self.close()
            raise from_rpc_error(err) from None

    def chunks(self) -> Iterator[cpb.OutputChunk]:
        try:
            yield from self._call
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                raise from_rpc_error(err) from None

    def close(self) -> None:
        self._closed.set()
        self._call.cancel()


class ContainerClient:
    def __init__(self, target: str) -> None:
        self.stub = container_pb2_grpc.ContainerServiceStub(peer_channel(target))

    def create(self, request: cpb.CreateContainerRequest) -> cpb.Container:
        return call_peer(self.stub.Create, request)

    def attach(self, cid: str) -> Attachment:
        return Attachment(self.stub, cid)

    def start(self, cid: str) -> None:
        call_peer(self.stub.Start, cpb.StartContainerRequest(reference=cid))

    def wait(self, cid: str) -> int:
        resp = call_peer(
            self.stub.Wait, cpb.WaitContainerRequest(reference=cid), timeout=365 * 86400.0
        )
        return resp.status_code

    def kill(self, cid: str) -> None:
        call_peer(self.stub.Kill, cpb.KillContainerRequest(reference=cid, signal="KILL"))

    def remove(self, cid: str) -> None:
        call_peer(self.stub.Remove, cpb.RemoveContainerRequest(reference=cid, force=True))
