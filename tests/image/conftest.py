"""Service-level fixtures: the image service on a temporary root behind a
real gRPC server (pytest-grpc), with hangu's error interceptor so domain
errors arrive as their gRPC status codes."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hangu_image.service import ImageService
from hangu_image.servicer import ImageServicer
from hangu_runtime.config import Settings
from hangu_runtime.server import ErrorAndLogInterceptor


def new_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="hgt-img-", dir="/tmp"))


@pytest.fixture(scope="module")
def image_service() -> Iterator[ImageService]:
    root = new_root()
    svc = ImageService(Settings(root=root, run=root / "run"))
    yield svc
    svc.purge()
    svc.close()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def grpc_interceptors() -> list[Any]:
    return [ErrorAndLogInterceptor()]


@pytest.fixture(scope="module")
def grpc_add_to_server() -> Any:
    from hangu.image.v1.image_pb2_grpc import add_ImageServiceServicer_to_server

    return add_ImageServiceServicer_to_server


@pytest.fixture(scope="module")
def grpc_servicer(image_service: ImageService) -> ImageServicer:
    return image_service.servicer


@pytest.fixture(scope="module")
def grpc_stub_cls(grpc_channel: Any) -> Any:
    from hangu.image.v1.image_pb2_grpc import ImageServiceStub

    return ImageServiceStub
