"""Unit tests for the mount placeholders runc leaves in a writable layer
(/etc/hosts and friends, /dev, /proc, /sys): never in `docker diff` or a
committed layer, as dockerd's init layer keeps them out; what the container
really changed, and the mount points of its own mounts, still there."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from hangu_image import diff
from hangu_image.placeholders import mount_placeholder_filter


def _layers(tmp_path: Path, lower_has_etc_hosts: bool = False) -> tuple[Path, Path]:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for d in ("bin", "etc", "proc", "sys", "sbin", "tmp"):
        (lower / d).mkdir(parents=True)
    (lower / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (lower / "bin" / "ls").write_text("")
    if lower_has_etc_hosts:
        (lower / "etc" / "hosts").write_text("127.0.0.1 localhost\n")
    upper.mkdir()
    # What runc makes for the container's own mounts (image without /dev).
    (upper / "etc").mkdir()
    os.chmod(upper / "etc", os.stat(lower / "etc").st_mode)
    for name in ("hosts", "hostname", "resolv.conf"):
        if not (lower_has_etc_hosts and name == "hosts"):
            (upper / "etc" / name).write_text("")
    (upper / "dev").mkdir()
    return lower, upper


def _changes(upper: Path, lower: Path) -> list[tuple[str, int]]:
    return diff.changes(upper, [str(lower)], mount_placeholder_filter(upper, [str(lower)]))


def test_a_container_that_wrote_nothing_changed_nothing(tmp_path: Path) -> None:
    lower, upper = _layers(tmp_path)
    assert _changes(upper, lower) == []
    assert diff.is_empty(upper, mount_placeholder_filter(upper, [str(lower)]))
    # without the filter they would all show (what `docker diff` did)
    assert ("/etc/hosts", diff.ADDED) in diff.changes(upper, [str(lower)])


def test_real_changes_still_show(tmp_path: Path) -> None:
    lower, upper = _layers(tmp_path)
    (upper / "x").write_text("")
    (upper / "a" / "b").mkdir(parents=True)
    (upper / "bin").mkdir()
    os.mknod(upper / "bin" / "ls", 0o600 | 0o020000, os.makedev(0, 0))  # whiteout
    (upper / "etc" / "foo").mkdir()
    (upper / "data").mkdir()  # a volume's mount point: dockerd shows it
    (upper / "sbin").mkdir()
    (upper / "sbin" / "docker-init").write_text("")  # --init's, shown by dockerd too
    assert _changes(upper, lower) == [
        ("/a", diff.ADDED),
        ("/a/b", diff.ADDED),
        ("/bin", diff.MODIFIED),
        ("/bin/ls", diff.DELETED),
        ("/data", diff.ADDED),
        ("/etc", diff.MODIFIED),
        ("/etc/foo", diff.ADDED),
        ("/sbin", diff.MODIFIED),
        ("/sbin/docker-init", diff.ADDED),
        ("/x", diff.ADDED),
    ]


def test_a_written_placeholder_is_a_change(tmp_path: Path) -> None:
    lower, upper = _layers(tmp_path)
    (upper / "etc" / "hostname").write_text("mine\n")  # not the empty mount point
    (upper / "dev" / "null").write_text("")
    assert _changes(upper, lower) == [
        ("/dev", diff.ADDED),
        ("/dev/null", diff.ADDED),
        ("/etc", diff.MODIFIED),
        ("/etc/hostname", diff.ADDED),
    ]


def test_an_etc_that_changed_mode_is_a_change(tmp_path: Path) -> None:
    lower, upper = _layers(tmp_path)
    os.chmod(upper / "etc", 0o700)
    assert _changes(upper, lower) == [("/etc", diff.MODIFIED)]


@pytest.mark.parametrize("lower_has_etc_hosts", [True, False])
def test_the_committed_layer_holds_no_placeholder(
    tmp_path: Path, lower_has_etc_hosts: bool
) -> None:
    lower, upper = _layers(tmp_path, lower_has_etc_hosts)
    (upper / "x").write_text("1")
    out = io.BytesIO()
    diff.write_layer_tar(upper, out, mount_placeholder_filter(upper, [str(lower)]))
    out.seek(0)
    with tarfile.open(fileobj=out) as tar:
        assert tar.getnames() == ["x"]
