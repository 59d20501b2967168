"""The volume service behind its real gRPC server on a temporary socket."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from hangu.volume.v1 import volume_pb2_grpc as pb_grpc
from hangu_runtime.config import load_settings
from hangu_runtime.server import build_server
from hangu_volume.service import VolumeService


@dataclass
class VolEnv:
    root: Path
    service: VolumeService
    stub: pb_grpc.VolumeServiceStub


@pytest.fixture
def vol_env() -> Iterator[VolEnv]:
    tmp = tempfile.mkdtemp(prefix="hgt-vol-", dir="/tmp")
    settings = load_settings({"HANGU_ROOT": f"{tmp}/root", "HANGU_RUN": f"{tmp}/run"})
    service = VolumeService(settings)
    server = build_server(8, 8)
    service.register(server)
    sock = settings.grpc_socket("volume")
    sock.parent.mkdir(parents=True, exist_ok=True)
    server.add_insecure_port(f"unix://{sock}")
    server.start()
    channel = grpc.insecure_channel(f"unix://{sock}")
    try:
        yield VolEnv(settings.data_dir("volume"), service, pb_grpc.VolumeServiceStub(channel))
    finally:
        channel.close()
        server.stop(0).wait()
        service.purge()
        service.close()
        shutil.rmtree(tmp, ignore_errors=True)


# -- pytest-grpc: the real VolumeServicer registered through the plugin's
# module-scoped fixtures (test_grpc_api.py); built only where asked for.
@pytest.fixture(scope="module")
def pg_volume() -> Iterator[VolumeService]:
    tmp = tempfile.mkdtemp(prefix="hgt-pg-", dir="/tmp")
    service = VolumeService(load_settings({"HANGU_ROOT": f"{tmp}/root", "HANGU_RUN": f"{tmp}/run"}))
    try:
        yield service
    finally:
        service.purge()
        service.close()
        shutil.rmtree(tmp, ignore_errors=True)
    assert tmp not in Path("/proc/self/mountinfo").read_text()


@pytest.fixture(scope="module")
def grpc_interceptors() -> list[object]:
    from hangu_runtime.server import ErrorAndLogInterceptor

    return [ErrorAndLogInterceptor()]


@pytest.fixture(scope="module")
def grpc_add_to_server() -> object:
    return pb_grpc.add_VolumeServiceServicer_to_server


@pytest.fixture(scope="module")
def grpc_servicer(pg_volume: VolumeService) -> object:
    return pg_volume.servicer


@pytest.fixture(scope="module")
def grpc_stub_cls(grpc_channel: object) -> object:
    return pb_grpc.VolumeServiceStub
