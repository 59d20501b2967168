"""Pulling from and pushing to a registry that demands Basic auth
(Debian's docker-registry with an htpasswd file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.image.v1 import image_pb2 as pb
from tests.support.busybox import Image
from tests.support.registry import Registry, running_registry

pytestmark = pytest.mark.root


@pytest.fixture(scope="module")
def auth_registry(busybox_oci_layout: Path) -> Iterator[Registry]:
    with running_registry(credentials=("hangu", "s3cret")) as reg:
        reg.push(busybox_oci_layout, "busybox", "latest")
        yield reg


def test_pull_with_credentials(
    grpc_stub: Any, auth_registry: Registry, busybox_image: Image
) -> None:
    auth = pb.RegistryAuth(username="hangu", password="s3cret", server_address=auth_registry.host)
    ref = f"{auth_registry.host}/busybox"
    out = list(grpc_stub.Pull(pb.PullRequest(reference=ref, auth=auth)))
    assert out[-1].status == f"Status: Downloaded newer image for {ref}:latest"
    assert grpc_stub.Get(pb.GetImageRequest(reference=ref)).id == busybox_image.id
    pushed = list(grpc_stub.Push(pb.PushRequest(reference=f"{ref}:latest", auth=auth)))
    assert not any(p.error for p in pushed)
    assert grpc_stub.Login(pb.LoginRequest(auth=auth)).status == "Login Succeeded"


def test_pull_without_credentials_is_refused(grpc_stub: Any, auth_registry: Registry) -> None:
    ref = f"{auth_registry.host}/busybox:latest"
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Pull(pb.PullRequest(reference=ref)))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == (
        f'Get "http://{auth_registry.host}/v2/busybox/manifests/latest": no basic auth credentials'
    )
    with pytest.raises(grpc.RpcError) as err:
        list(
            grpc_stub.Pull(
                pb.PullRequest(
                    reference=ref, auth=pb.RegistryAuth(username="hangu", password="wrong")
                )
            )
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == "unauthorized: authentication required"
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Login(
            pb.LoginRequest(
                auth=pb.RegistryAuth(
                    username="hangu", password="wrong", server_address=auth_registry.host
                )
            )
        )
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == (
        f"login attempt to http://{auth_registry.host}/v2/ failed with status: 401 Unauthorized"
    )


@pytest.fixture(scope="module")
def token_registry(busybox_oci_layout: Path, fixture_dir: Path) -> Iterator[tuple[Registry, Any]]:
    from tests.support.token_server import ISSUER, SERVICE, running_token_server

    workdir = fixture_dir / "token"
    workdir.mkdir(exist_ok=True)
    with (
        running_token_server(workdir, {"hangu": "t0ken"}, anonymous_pull=True) as tokens,
        running_registry(
            token_auth={
                "realm": tokens.url,
                "service": SERVICE,
                "issuer": ISSUER,
                "cert": str(tokens.cert),
            }
        ) as reg,
    ):
        reg.credentials = ("hangu", "t0ken")
        reg.push(busybox_oci_layout, "busybox", "latest")
        yield reg, tokens


def test_bearer_token_flow(
    grpc_stub: Any, token_registry: tuple[Registry, Any], busybox_image: Image
) -> None:
    reg, tokens = token_registry
    ref = f"{reg.host}/busybox"
    tokens.issued.clear()
    out = list(grpc_stub.Pull(pb.PullRequest(reference=ref)))  # anonymous pull token
    assert out[-1].status == f"Status: Downloaded newer image for {ref}:latest"
    assert tokens.issued and tokens.issued[0]["sub"] == ""
    assert tokens.issued[0]["access"] == [
        {"type": "repository", "name": "busybox", "actions": ["pull"]}
    ]
    # Pushing needs a token with push rights: credentials go to the realm.
    target = f"{reg.host}/hgt-tok:v1"
    grpc_stub.Tag(pb.TagRequest(source=ref, target=target))
    auth = pb.RegistryAuth(username="hangu", password="t0ken")
    pushed = list(grpc_stub.Push(pb.PushRequest(reference=target, auth=auth)))
    assert not any(p.error for p in pushed), [p.error for p in pushed]
    assert any(c["sub"] == "hangu" for c in tokens.issued)
    # Anonymous users only get pull rights: the push fails in the stream.
    grpc_stub.Tag(pb.TagRequest(source=ref, target=f"{reg.host}/hgt-tok:v2"))
    denied = list(grpc_stub.Push(pb.PushRequest(reference=f"{reg.host}/hgt-tok:v2")))
    assert denied[-1].error == "unauthorized: authentication required"


def test_tls_registry(grpc_stub: Any, busybox_oci_layout: Path, busybox_image: Image) -> None:
    """A loopback registry speaking HTTPS (self-signed): as dockerd does for
    insecure registries, HTTPS without verification is tried first."""
    with running_registry(tls=True) as reg:
        reg.push(busybox_oci_layout, "busybox", "latest")
        ref = f"{reg.host}/busybox"
        out = list(grpc_stub.Pull(pb.PullRequest(reference=ref)))
        assert out[-1].status == f"Status: Downloaded newer image for {ref}:latest"
        grpc_stub.Tag(pb.TagRequest(source=ref, target=f"{reg.host}/hgt-tls:1"))
        pushed = list(grpc_stub.Push(pb.PushRequest(reference=f"{reg.host}/hgt-tls:1")))
        assert not any(p.error for p in pushed)
    assert grpc_stub.Get(pb.GetImageRequest(reference=ref)).id == busybox_image.id
