"""Fixtures for the container service tests: a temp root under /tmp, a
busybox rootfs, the runtime layer on a unique runc root and cgroup parent."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangu_container import runtime

from .rootfs import make_busybox_rootfs


def _rootless() -> bool:
    return os.geteuid() != 0 or not shutil.which("conmon") or not shutil.which("runc")


needs_root = pytest.mark.skipif(_rootless(), reason="needs root, runc and conmon")


@pytest.fixture(scope="session")
def ctr_tmp() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="hgt-ctr-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_rootfs(ctr_tmp: Path) -> Path:
    return make_busybox_rootfs(ctr_tmp / "rootfs")


@pytest.fixture(scope="session")
def cgroup_parent() -> Iterator[str]:
    parent = f"/hgc-{secrets.token_hex(3)}"
    yield parent
    runtime.remove_cgroup_parent(parent)


@pytest.fixture(scope="session")
def rt(ctr_tmp: Path) -> Iterator[runtime.Runtime]:
    r = runtime.Runtime(runtime.RuntimePaths(ctr_tmp / "rt-run", ctr_tmp / "rt-data"))
    yield r
    # Nothing may survive the session: kill and delete what is left.
    for cid in os.listdir(r.paths.runc_root):
        r.delete(cid)
