"""Push on the wire: big blobs go up in PATCH chunks with Content-Range,
small ones in one PUT, a blob another repository holds is mounted, and a
zstd layer is pushed as gzip; the registry then serves what was pushed."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hangu.image.v1 import image_pb2 as pb
from hangu_image import registry as registry_mod
from tests.support.busybox import Image, LayerBuilder, build_image
from tests.support.layouts import write_layout
from tests.support.registry import Registry, running_registry

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def zstd_registry(fixture_dir: Path) -> Iterator[tuple[Registry, Image]]:
    image = build_image([LayerBuilder().dir("z").file("z/data", os.urandom(3 << 20)).build()])
    with running_registry() as reg:
        reg.push(write_layout(image, fixture_dir / "zstd-big", "zstd"), "zbig")
        yield reg, image


def _record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, dict[str, str]]]:
    seen: list[tuple[str, str, dict[str, str]]] = []
    real = registry_mod.Session._send

    def send(self: Any, method: str, url: str, headers: dict[str, str], body: Any = None) -> Any:
        seen.append((method, url, dict(headers)))
        return real(self, method, url, headers, body)

    monkeypatch.setattr(registry_mod.Session, "_send", send)
    return seen


def test_chunked_push_of_a_zstd_layer_then_mount(
    grpc_stub: Any, zstd_registry: tuple[Registry, Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, image = zstd_registry
    out = list(grpc_stub.Pull(pb.PullRequest(reference=f"{reg.host}/zbig")))
    assert out[-1].status == f"Status: Downloaded newer image for {reg.host}/zbig:latest"
    monkeypatch.setattr(registry_mod, "CHUNK_THRESHOLD", 1 << 20)
    monkeypatch.setattr(registry_mod, "CHUNK_SIZE", 512 << 10)
    seen = _record(monkeypatch)
    target = f"{reg.host}/zpushed:v1"
    grpc_stub.Tag(pb.TagRequest(source=f"{reg.host}/zbig", target=target))
    pushed = list(grpc_stub.Push(pb.PushRequest(reference=target)))
    assert not any(p.error for p in pushed), [p.error for p in pushed]
    patches = [h for m, _, h in seen if m == "PATCH"]
    assert len(patches) >= 6, [m for m, _, _ in seen]
    ranges = [h["Content-Range"] for h in patches]
    assert ranges[0] == f"0-{(512 << 10) - 1}"
    ends = [int(r.split("-")[1]) for r in ranges]
    starts = [int(r.split("-")[0]) for r in ranges]
    assert starts[1:] == [e + 1 for e in ends[:-1]]
    # The registry holds a gzip layer with the image's diff id.
    manifest = json.loads(
        subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{target}"],
            check=True,
            capture_output=True,
        ).stdout
    )
    assert manifest["layers"][0]["mediaType"].endswith("tar.gzip")
    assert manifest["config"]["digest"] == image.id
    assert manifest["layers"][0]["size"] == ends[-1] + 1
    # Another repository of the registry: the blob is mounted, not sent.
    seen.clear()
    other = f"{reg.host}/zother:v1"
    grpc_stub.Tag(pb.TagRequest(source=target, target=other))
    again = list(grpc_stub.Push(pb.PushRequest(reference=other)))
    assert any(p.status == "Mounted from zpushed" for p in again), [p.status for p in again]
    assert not [m for m, _, _ in seen if m == "PATCH"]
    assert any("mount=" in url and "from=zpushed" in url for m, url, _ in seen if m == "POST")
    # Pulled back (after removing it here): the same image.
    grpc_stub.Remove(pb.RemoveImageRequest(reference=image.id, force=True))
    back = list(grpc_stub.Pull(pb.PullRequest(reference=other)))
    assert back[-1].status == f"Status: Downloaded newer image for {other}"
    assert grpc_stub.Get(pb.GetImageRequest(reference=other)).id == image.id


def test_small_blob_goes_up_in_one_put(
    grpc_stub: Any, zstd_registry: tuple[Registry, Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, _ = zstd_registry
    small = build_image([LayerBuilder().dir("s").file("s/f", b"small").build()])
    from tests.support.busybox import write_docker_archive

    archive = write_docker_archive(
        small, Path(reg.storage).parent / "small.tar", repo_tags=[f"{reg.host}/small:v1"]
    )
    list(
        grpc_stub.Load(
            iter([pb.LoadRequest(quiet=True), pb.LoadRequest(data=archive.read_bytes())])
        )
    )
    seen = _record(monkeypatch)
    pushed = list(grpc_stub.Push(pb.PushRequest(reference=f"{reg.host}/small:v1")))
    assert not any(p.error for p in pushed)
    assert [m for m, _, _ in seen if m == "PATCH"] == []
    assert len([u for m, u, _ in seen if m == "PUT" and "digest=" in u]) == 2  # layer, config
