"""The image service's pull machinery against real registries: at most
three layers downloading at once, Docker Hub mirrors tried first with
fallback, the pull journal undone at start-up, and certs.d material."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hangu.image.v1 import image_pb2 as pb
from hangu_image import registry as registry_mod
from hangu_image import tls
from hangu_image.journal import PullJournal
from hangu_image.mirrors import RegistryConfig, endpoints
from hangu_image.pull import with_fallback
from hangu_image.reference import parse
from hangu_image.service import ImageService
from hangu_runtime.config import Settings
from hangu_runtime.errors import InvalidArgument
from tests.image.conftest import new_root
from tests.support.busybox import Image, LayerBuilder, build_image, write_oci_layout
from tests.support.registry import Registry, free_port, make_ca, running_registry

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def many_layers(fixture_dir: Path) -> Iterator[tuple[Registry, Image]]:
    layers = [
        LayerBuilder().dir(f"l{n}").file(f"l{n}/f", bytes([n]) * 70000).build() for n in range(7)
    ]
    image = build_image(layers)
    with running_registry() as reg:
        reg.push(write_oci_layout(image, fixture_dir / "seven"), "seven")
        yield reg, image


def test_at_most_three_downloads_at_once(
    grpc_stub: Any, many_layers: tuple[Registry, Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    reg, image = many_layers
    lock = threading.Lock()
    state = {"now": 0, "max": 0}
    real_open = registry_mod.Session.open_blob

    class Counted:
        def __init__(self, resp: Any) -> None:
            self.resp = resp

        def read(self, n: int | None = None) -> bytes:
            time.sleep(0.01)
            return bytes(self.resp.read(n))

        def __enter__(self) -> Counted:
            return self

        def __exit__(self, *_: object) -> None:
            self.resp.close()
            with lock:
                state["now"] -= 1

    def open_blob(self: Any, digest: str) -> Any:
        resp = real_open(self, digest)
        if digest == image.id:  # the config: not a layer download
            return resp
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.1)
        return Counted(resp)

    monkeypatch.setattr(registry_mod.Session, "open_blob", open_blob)
    out = list(grpc_stub.Pull(pb.PullRequest(reference=f"{reg.host}/seven")))
    assert out[-1].status == f"Status: Downloaded newer image for {reg.host}/seven:latest"
    assert state["max"] == 3, state
    # Layers past the third wait for a slot, and say so as dockerd does.
    waiting = [p.id for p in out if p.status == "Waiting"]
    assert len(waiting) == 4
    assert grpc_stub.Get(pb.GetImageRequest(reference=f"{reg.host}/seven")).id == image.id


def test_mirrors_are_tried_first_for_docker_hub_only() -> None:
    config = RegistryConfig(mirrors=("http://127.0.0.1:1", "https://mirror.example:5000/x/"))
    hub = endpoints(parse("busybox"), config)
    assert [(e.scheme, e.host, e.mirror) for e in hub] == [
        ("http", "127.0.0.1:1", True),
        ("https", "mirror.example:5000", True),
        ("https", "registry-1.docker.io", False),
    ]
    assert hub[1].path_prefix == "/x" and hub[1].verify
    assert [e.host for e in endpoints(parse("busybox"), config, pull=False)] == [
        "registry-1.docker.io"
    ]
    assert [e.host for e in endpoints(parse("quay.io/a/b"), config)] == ["quay.io"]
    with pytest.raises(InvalidArgument):
        RegistryConfig.from_settings(Settings(registry_mirrors=("ftp://x",)))


def test_dead_mirror_falls_back_to_the_next(
    many_layers: tuple[Registry, Image], busybox_oci_layout: Path
) -> None:
    """A mirror that does not answer is skipped (the next endpoint here is
    another mirror that has the image, so nothing leaves the machine)."""
    reg, _ = many_layers
    reg.push(busybox_oci_layout, "library/busybox")
    dead = f"http://127.0.0.1:{free_port()}"
    config = RegistryConfig(mirrors=(dead, f"http://{reg.host}"))
    session, (_, _, digest) = with_fallback(
        parse("busybox"), None, config, lambda s: s.get_manifest("latest")
    )
    assert session.endpoint.host == reg.host and digest.startswith("sha256:")


def test_pull_journal_is_undone_at_start(registry: Registry) -> None:
    """What a killed pull left (blobs, layers it had journaled) goes at the
    next start; what an image uses stays."""
    root = new_root()
    try:
        settings = Settings(root=root, run=root / "run")
        svc = ImageService(settings)
        out = list(svc.distribution.pull(f"{registry.host}/busybox"))
        assert out[-1].status.startswith("Status: Downloaded newer image")
        kept = svc.images.cached_view(f"{registry.host}/busybox")
        journal = PullJournal(root / "image" / "pulls")
        stray = svc.content.put(b"half a pull")
        journal.blob(stray)
        journal.blob(kept.id)  # used by an image: stays
        journal.layer(kept.record.chain_ids[0])  # likewise
        svc.close()
        svc = ImageService(settings)
        assert not svc.content.has(stray)
        assert svc.content.has(kept.id)
        assert svc.layers.exists(kept.record.chain_ids[0])
        assert list((root / "image" / "pulls").iterdir()) == []
        svc.close()
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)


def test_certs_d_material(tmp_path: Path) -> None:
    folder = tmp_path / "127.0.0.1:5000"
    folder.mkdir()
    assert tls.host_dir(tmp_path, "127.0.0.1:5000") == folder
    assert tls.host_dir(tmp_path, "127.0.0.1:5001") is None
    ca, _ = make_ca(tmp_path)
    (folder / "ca.crt").write_bytes(ca.read_bytes())
    ctx = tls.context(tmp_path, "127.0.0.1:5000")
    assert any(
        c.get("subject") == ((("commonName", "hangu-test-ca"),),) for c in ctx.get_ca_certs()
    )
    (folder / "client.cert").write_text("x")
    with pytest.raises(InvalidArgument, match="missing key client.key"):
        tls.context(tmp_path, "127.0.0.1:5000")


def test_docker_hub_token_flow(
    grpc_stub: Any,
    fixture_dir: Path,
    busybox_oci_layout: Path,
    busybox_image: Image,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`busybox` with no mirror goes to Docker Hub's registry host (here a
    local token-auth registry standing in for registry-1.docker.io): the
    401 challenge names the realm and service, the token is asked for
    repository:library/busybox:pull, anonymously, then with credentials."""
    from hangu_image import mirrors
    from tests.support.token_server import ISSUER, SERVICE, running_token_server

    work = fixture_dir / "hub-token"
    work.mkdir()
    with (
        running_token_server(work, {"hangu": "t0ken"}, anonymous_pull=True) as tokens,
        running_registry(
            token_auth={
                "realm": tokens.url,
                "service": SERVICE,
                "issuer": ISSUER,
                "cert": str(tokens.cert),
            }
        ) as hub,
    ):
        hub.credentials = ("hangu", "t0ken")
        hub.push(busybox_oci_layout, "library/busybox")
        monkeypatch.setattr(mirrors, "DOCKER_HUB_HOST", hub.host)
        tokens.requests.clear()  # skopeo's, for its push
        tokens.issued.clear()
        out = list(grpc_stub.Pull(pb.PullRequest(reference="busybox")))
        assert out[0].status == "Pulling from library/busybox"
        assert out[-1].status == "Status: Downloaded newer image for busybox:latest"
        assert tokens.requests[0]["service"] == [SERVICE]
        assert tokens.requests[0]["scope"] == ["repository:library/busybox:pull"]
        assert tokens.issued[0]["sub"] == ""
        assert (
            grpc_stub.Get(pb.GetImageRequest(reference="docker.io/library/busybox")).id
            == busybox_image.id
        )
        # With credentials, the token is asked for them (Basic to the realm).
        auth = pb.RegistryAuth(
            username="hangu", password="t0ken", server_address="https://index.docker.io/v1/"
        )
        list(grpc_stub.Pull(pb.PullRequest(reference="library/busybox:latest", auth=auth)))
        assert tokens.issued[-1]["sub"] == "hangu"
        assert grpc_stub.Login(pb.LoginRequest(auth=auth)).status == "Login Succeeded"
        bad = pb.RegistryAuth(
            username="hangu", password="nope", server_address="https://index.docker.io/v1/"
        )
        import grpc

        with pytest.raises(grpc.RpcError) as err:
            grpc_stub.Login(pb.LoginRequest(auth=bad))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert err.value.details() == (
            f'Get "http://{hub.host}/v2/": unauthorized: incorrect username or password'
        )
