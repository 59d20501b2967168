"""Fixtures every area can reuse: the busybox test image (OCI layout and
docker-archive) and a local registry that holds it as `busybox:latest`.

Markers `root` and `e2e` are declared in pyproject.toml. A test module that
needs root or the kernel says so (`pytestmark`); a test that uses one of the
fixtures below is marked here as well, wherever it lives, so `make test-unit`
(`-m "not root and not e2e"`) never picks it up. `make test-unit` also runs
without capabilities, so a test that needs root and is not marked fails
there instead of slipping in."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangu_runtime import logging as hlog
from tests.support import busybox
from tests.support.registry import Registry, running_registry

# Fixtures that start a whole stack (e2e), or that need root and the kernel
# (network namespaces, runc, cgroups), by the module that defines them (names
# alone are ambiguous: tests/deploy has a `stack` of fake services).
STACK_FIXTURES = {"tests.e2e.conftest": {"stack"}, "tests.cli.conftest": {"cli_stack"}}
KERNEL_FIXTURES = {
    "tests.network.conftest": {"net_env", "pg_network"},
    "tests.container.conftest": {"rt", "cgroup_parent", "busybox_rootfs"},
}


def _uses(item: pytest.Item, table: dict[str, set[str]]) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for name, defs in info.name2fixturedefs.items():
        for fixturedef in defs:
            module = getattr(fixturedef.func, "__module__", "")
            if name in table.get(module, ()):
                return True
    return False


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _uses(item, STACK_FIXTURES):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.root)
        elif _uses(item, KERNEL_FIXTURES):
            item.add_marker(pytest.mark.root)


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
