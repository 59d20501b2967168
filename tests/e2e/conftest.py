"""The whole stack for end-to-end tests: started once per session from this
checkout on a temporary root (bridge hge<rand>, nft table hge_<rand>, subnet
pool 10.203.0.0/16, /tmp/hgt-e2e-*), stopped and checked for leftovers at
the end. Tests drive it with the real docker CLI and docker-py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.registry import Registry
from tests.support.stack import Stack, running_stack, stack_available


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.root)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    with running_stack("e2e", bridge_prefix="hge", subnet_pool="10.203.0.0/16") as s:
        yield s


@pytest.fixture(scope="session")
def pull_ref(registry: Registry) -> str:
    """The registry copy of busybox; nothing in the stack has it before the
    interactive test pulls it."""
    return f"{registry.host}/busybox"


@pytest.fixture(scope="session")
def busybox(stack: Stack, busybox_docker_archive: Path) -> str:
    """`busybox:latest` in the stack (docker load of the docker-archive)."""
    stack.load_image(busybox_docker_archive)
    return "busybox"
