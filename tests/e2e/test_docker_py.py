"""The same engine through docker-py, the Python client."""

from __future__ import annotations

import secrets

import docker
import pytest

from tests.support.stack import Stack


@pytest.fixture(scope="module")
def client(stack: Stack) -> docker.DockerClient:
    c = stack.docker_client()
    yield c
    c.close()


def test_version_ping_info(client: docker.DockerClient) -> None:
    assert client.ping() is True
    v = client.version()
    assert v["ApiVersion"] == "1.47" and v["Platform"]["Name"] == "hangu"
    info = client.info()
    assert info["Driver"] == "overlay2" and info["Swarm"]["LocalNodeState"] == "inactive"


def test_run_remove_and_lifecycle(client: docker.DockerClient, busybox: str) -> None:
    assert client.containers.run(busybox, ["echo", "hi"], remove=True) == b"hi\n"
    name = "py-" + secrets.token_hex(3)
    c = client.containers.run(busybox, ["sleep", "300"], detach=True, name=name)
    try:
        c.reload()
        assert c.status == "running" and c.name == name
        assert c.id in [x.id for x in client.containers.list()]
        c.stop(timeout=1)
        c.reload()
        assert c.status == "exited"
        assert c.wait()["StatusCode"] == 137
    finally:
        c.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_errors_are_typed(client: docker.DockerClient, busybox: str) -> None:
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("nosuch-image-" + secrets.token_hex(3))
    name = "pyc-" + secrets.token_hex(3)
    client.containers.create(busybox, ["true"], name=name)
    try:
        with pytest.raises(docker.errors.APIError) as err:
            client.containers.create(busybox, ["true"], name=name)
        assert err.value.status_code == 409
    finally:
        client.containers.get(name).remove()


def test_images_and_volumes(client: docker.DockerClient, busybox: str) -> None:
    img = client.images.get(busybox)
    assert "busybox:latest" in img.tags
    vol = client.volumes.create("pyv-" + secrets.token_hex(3))
    try:
        assert vol.name in [v.name for v in client.volumes.list()]
    finally:
        vol.remove()
