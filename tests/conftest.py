"""Fixtures every area can reuse: the busybox test image (OCI layout and
docker-archive) and a local registry that holds it as `busybox:latest`.

Markers `root` and `e2e` are declared in pyproject.toml."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangu_runtime import logging as hlog
from tests.support import busybox
from tests.support.registry import Registry, running_registry

# Services run in-process in some tests: their structured lines go to stderr
# as JSON (shown with a failing test), not to pytest's progress output.
hlog.configure("tests", level="warning")


@pytest.fixture(scope="session")
def fixture_dir() -> Iterator[Path]:
    """A session-wide scratch dir for built images (short path under /tmp)."""
    path = Path(tempfile.mkdtemp(prefix="hgt-fx-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_image() -> busybox.Image:
    """The busybox image in memory (layers, config, digests)."""
    return busybox.busybox_image()


@pytest.fixture(scope="session")
def busybox_oci_layout(busybox_image: busybox.Image, fixture_dir: Path) -> Path:
    """Directory holding busybox as an OCI image layout, tag `latest`."""
    return busybox.write_oci_layout(busybox_image, fixture_dir / "busybox-oci")


@pytest.fixture(scope="session")
def busybox_docker_archive(busybox_image: busybox.Image, fixture_dir: Path) -> Path:
    """busybox as a docker-archive tarball (`docker load` input), tagged busybox:latest."""
    return busybox.write_docker_archive(busybox_image, fixture_dir / "busybox-docker.tar")


@pytest.fixture(scope="session")
def registry(busybox_oci_layout: Path) -> Iterator[Registry]:
    """A Debian docker-registry on 127.0.0.1:<free port> holding `busybox:latest`.
    `registry.host` is "127.0.0.1:PORT"; pull `f"{registry.host}/busybox"`."""
    with running_registry() as reg:
        reg.push(busybox_oci_layout, "busybox", "latest")
        yield reg
