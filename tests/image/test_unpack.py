"""Layer unpacking: whiteouts in overlayfs's format, hard links, symlinks,
devices, modes, owners, and refusing paths that leave the layer root."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangu_image.unpack import LayerError, clean_name, decompressed, unpack
from tests.support.busybox import LayerBuilder, gzip_bytes


@pytest.fixture
def dest() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="hgt-img-", dir="/tmp"))
    (d / "diff").mkdir()
    yield d / "diff"
    shutil.rmtree(d)


def test_clean_name() -> None:
    assert clean_name("./a/b") == "a/b"
    assert clean_name("/etc/passwd") == "etc/passwd"
    assert clean_name("a/../b") == "b"
    assert clean_name("./") == ""
    for bad in ("../x", "a/../../x", "/../x", ".."):
        with pytest.raises(LayerError):
            clean_name(bad)


def test_diff_id_and_compression(dest: Path) -> None:
    layer = LayerBuilder().dir("etc").file("etc/hostname", b"box\n").build()
    res = unpack(decompressed(io.BytesIO(gzip_bytes(layer))), dest)  # type: ignore[arg-type]
    assert res.diff_id == "sha256:" + hashlib.sha256(layer).hexdigest()
    assert res.size == 4
    assert (dest / "etc/hostname").read_bytes() == b"box\n"


@pytest.mark.root
def test_whiteouts_become_overlay_whiteouts(dest: Path) -> None:
    layer = (
        LayerBuilder()
        .dir("etc")
        .whiteout("etc/motd")
        .dir("var")
        .dir("var/cache")
        .opaque("var/cache")
        .file("var/cache/new", b"x")
        .whiteout("gone")
        .build()
    )
    unpack(io.BytesIO(layer), dest)
    st = os.lstat(dest / "etc/motd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert stat.S_ISCHR(os.lstat(dest / "gone").st_mode)
    assert os.getxattr(dest / "var/cache", "trusted.overlay.opaque") == b"y"
    assert not (dest / "etc/.wh.motd").exists()
    assert not (dest / "var/cache/.wh..wh..opq").exists()
    assert (dest / "var/cache/new").read_bytes() == b"x"


@pytest.mark.root
def test_links_devices_modes_owners(dest: Path) -> None:
    layer = (
        LayerBuilder()
        .dir("bin")
        .file("bin/tool", b"#!", mode=0o4755)
        .hardlink("bin/alias", "bin/tool")
        .symlink("bin/sym", "/bin/tool")
        .dir("dev")
        .device("dev/null", True, 1, 3)
        .device("dev/loop0", False, 7, 0, 0o660)
        .fifo("dev/fifo")
        .dir("home", mode=0o700, uid=1000, gid=1000)
        .file("home/f", b"data", mode=0o600, uid=1000, gid=100, xattrs={"user.note": "hello"})
        .build()
    )
    unpack(io.BytesIO(layer), dest)
    tool, alias = os.lstat(dest / "bin/tool"), os.lstat(dest / "bin/alias")
    assert tool.st_ino == alias.st_ino and tool.st_nlink == 2
    assert stat.S_IMODE(tool.st_mode) == 0o4755
    assert os.readlink(dest / "bin/sym") == "/bin/tool"
    null = os.lstat(dest / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_ISBLK(os.lstat(dest / "dev/loop0").st_mode)
    assert stat.S_ISFIFO(os.lstat(dest / "dev/fifo").st_mode)
    home = os.lstat(dest / "home")
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (1000, 1000, 0o700)
    f = os.lstat(dest / "home/f")
    assert (f.st_uid, f.st_gid, stat.S_IMODE(f.st_mode)) == (1000, 100, 0o600)
    assert os.getxattr(dest / "home/f", "user.note") == b"hello"
    assert int(home.st_mtime) == 1704067200


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.mode = 0o644
    return info


@pytest.mark.parametrize(
    "build",
    [
        lambda b: b.raw(_member("../escape"), b"x"),
        lambda b: b.raw(_member("a/../../escape"), b"x"),
        lambda b: b.raw(_member("link", tarfile.SYMTYPE, "/tmp")).raw(_member("link/escape"), b"x"),
        lambda b: b.raw(_member("link", tarfile.SYMTYPE, "..")).raw(_member("link/escape"), b"x"),
        lambda b: b.raw(_member("hard", tarfile.LNKTYPE, "../../etc/passwd")),
        lambda b: b.raw(_member("sub", tarfile.SYMTYPE, "../..")).raw(_member("sub/.wh.x"), b""),
    ],
    ids=["dotdot", "nested-dotdot", "symlink-abs", "symlink-rel", "hardlink", "whiteout"],
)
def test_path_escapes_are_refused(dest: Path, build) -> None:  # type: ignore[no-untyped-def]
    outside = dest.parent / "escape"
    layer = build(LayerBuilder()).build()
    with pytest.raises(LayerError):
        unpack(io.BytesIO(layer), dest)
    assert not outside.exists()
    assert not Path("/tmp/escape").exists()


def test_symlink_to_outside_is_kept_as_a_link(dest: Path) -> None:
    # A symlink may point anywhere: it is resolved inside the container.
    layer = LayerBuilder().symlink("etc", "/etc").build()
    unpack(io.BytesIO(layer), dest)
    assert os.readlink(dest / "etc") == "/etc"


def test_later_entry_replaces_earlier(dest: Path) -> None:
    layer = (
        LayerBuilder()
        .file("a", b"1")
        .file("a", b"2")
        .dir("d")
        .file("d/x", b"")
        .file("d", b"now a file")
        .build()
    )
    unpack(io.BytesIO(layer), dest)
    assert (dest / "a").read_bytes() == b"2"
    assert (dest / "d").read_bytes() == b"now a file"


def test_bad_tar_is_a_layer_error(dest: Path) -> None:
    with pytest.raises(LayerError):
        unpack(io.BytesIO(b"not a tar at all" * 100), dest)
