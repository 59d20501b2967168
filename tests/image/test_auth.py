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


def test_pull_with_credentials(grpc_stub: Any, auth_registry: Registry,
                               busybox_image: Image) -> None:
    auth = pb.RegistryAuth(username="hangu", password="s3cret",
                           server_address=auth_registry.host)
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
    assert err.value.details() == (f'Get "http://{auth_registry.host}/v2/busybox/manifests/'
                                   'latest": no basic auth credentials')
    with pytest.raises(grpc.RpcError) as err:
        list(grpc_stub.Pull(pb.PullRequest(reference=ref, auth=pb.RegistryAuth(
            username="hangu", password="wrong"))))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == "unauthorized: authentication required"
    with pytest.raises(grpc.RpcError) as err:
        grpc_stub.Login(pb.LoginRequest(auth=pb.RegistryAuth(
            username="hangu", password="wrong", server_address=auth_registry.host)))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert err.value.details() == (f"login attempt to http://{auth_registry.host}/v2/ failed "
                                   "with status: 401 Unauthorized")
