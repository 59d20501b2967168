"""One hangu stack for the CLI tests, with the busybox image loaded and a
local registry holding it (for `hangu run` of an image not yet pulled)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import busybox
from tests.support.registry import Registry, running_registry
from tests.support.stack import Stack, stack_available


@pytest.fixture(scope="session")
def cli_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    archive = busybox.write_docker_archive(
        busybox.busybox_image(), tmp_path_factory.mktemp("img") / "busybox.tar"
    )
    stack = Stack("inf", bridge_prefix="hgi", subnet_pool="10.204.0.0/16")
    with stack:
        stack.load_image(Path(archive))
        yield stack


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    layout = busybox.write_oci_layout(
        busybox.busybox_image(), tmp_path_factory.mktemp("oci") / "layout"
    )
    with running_registry() as reg:
        reg.push(layout, "clitest/busybox")
        yield reg
