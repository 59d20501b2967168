"""A pull whose layer blob was tampered with in the registry fails with
Docker's wording and leaves nothing behind: no image, no layer, no blob,
no temporary file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hangu.image.v1 import image_pb2 as pb
from tests.support.busybox import Image, build_image, write_oci_layout
from tests.support.registry import Registry, running_registry

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def bad_registry(
    busybox_oci_layout: Path, fixture_dir: Path, busybox_image: Image
) -> Iterator[tuple[Registry, Image]]:
    """A registry of its own (tampering must not spoil the shared one)
    holding busybox with a corrupted layer, plus a two-layer image whose
    second layer is corrupted."""
    with running_registry() as reg:
        reg.push(busybox_oci_layout, "busybox", "latest")
        blob = reg.blob_path(busybox_image.manifest()[1]["layers"][0]["digest"])
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))
        yield reg, busybox_image


def _assert_empty(root: Path) -> None:
    blobs = list((root / "content/blobs/sha256").iterdir())
    assert blobs == [], blobs
    assert list((root / "content/ingest").iterdir()) == []
    assert list((root / "layers").iterdir()) == []
    assert list((root / "l").iterdir()) == []
    assert list((root / "tmp").iterdir()) == []


def test_corrupted_blob_leaves_nothing(
    grpc_stub: Any, bad_registry: tuple[Registry, Image], image_service: Any
) -> None:
    reg, image = bad_registry
    out = list(grpc_stub.Pull(pb.PullRequest(reference=f"{reg.host}/busybox")))
    digest = image.manifest()[1]["layers"][0]["digest"]
    assert out[0].status == "Pulling from busybox"
    assert out[-1].error == f"filesystem layer verification failed for digest {digest}"
    assert not any(p.status == "Pull complete" for p in out)
    assert grpc_stub.List(pb.ListImagesRequest()).images == []
    _assert_empty(image_service.root)


def test_second_layer_corrupt_removes_first(
    grpc_stub: Any, image_service: Any, fixture_dir: Path
) -> None:
    from tests.support.busybox import LayerBuilder

    image = build_image(
        [
            LayerBuilder().dir("a").file("a/one", b"1" * 5000).build(),
            LayerBuilder().dir("b").file("b/two", os.urandom(50000)).build(),
        ]
    )
    layout = write_oci_layout(image, fixture_dir / "two-layers")
    with running_registry() as reg:
        reg.push(layout, "two", "latest")
        blob = reg.blob_path(image.manifest()[1]["layers"][1]["digest"])
        blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
        out = list(grpc_stub.Pull(pb.PullRequest(reference=f"{reg.host}/two")))
    assert out[-1].error.startswith("filesystem layer verification failed")
    assert grpc_stub.List(pb.ListImagesRequest()).images == []
    _assert_empty(image_service.root)


def test_cancelled_pull_leaves_nothing(
    grpc_stub: Any, image_service: Any, fixture_dir: Path
) -> None:
    """The client goes away in the middle of a pull: the pull stops and
    removes what it made."""
    import time

    from tests.support.busybox import LayerBuilder

    layers = []
    for n in range(4):
        b = LayerBuilder().dir(f"d{n}")
        for i in range(300):
            b.file(f"d{n}/f{i}", os.urandom(4000))
        layers.append(b.build())
    image = build_image(layers)
    layout = write_oci_layout(image, fixture_dir / "cancel")
    with running_registry() as reg:
        reg.push(layout, "cancel", "latest")
        call = grpc_stub.Pull(pb.PullRequest(reference=f"{reg.host}/cancel"))
        for p in call:
            if p.status == "Download complete":
                break
        call.cancel()
        # The service runs in this process (pytest-grpc): wait for its pull
        # thread to finish, then nothing may be left.
        import threading

        deadline = time.monotonic() + 20
        while any(t.name == "pull" for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the pull did not stop"
            time.sleep(0.02)
    assert grpc_stub.List(pb.ListImagesRequest()).images == []
    _assert_empty(image_service.root)
