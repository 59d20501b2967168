"""Build contexts as dockerd's classic builder takes them: a tar in any of
Docker's compressions unpacked as its chrooted untar does (`.wh.` files are
plain files, `../x` lands at `x`, a hard link to nothing is refused in its
words), the Dockerfile found (and `dockerfile` for the default name), and
the build files dropped when the context's .dockerignore excludes them."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hangu_image import buildcontext
from hangu_image.buildcontext import BuildContextError


def tar_of(members: list[tuple[str, str, bytes | str]]) -> bytes:
    """(kind, name, data or link target): kind file, dir, symlink, hardlink."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for kind, name, data in members:
            info = tarfile.TarInfo(name)
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
            }[kind]
            if kind != "dir":
                assert isinstance(data, str)
                info.linkname = data
            tar.addfile(info)
    return out.getvalue()


CONTEXT = [
    ("file", "Dockerfile", b"FROM busybox\n"),
    ("dir", "src", b""),
    ("file", "src/app.txt", b"hello\n"),
    ("symlink", "src/link", "app.txt"),
    ("hardlink", "src/same", "src/app.txt"),
    ("file", "src/.wh.kept", b"not a whiteout\n"),
]

COMPRESSIONS: dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda data: data,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
}


@pytest.mark.parametrize("compression", sorted(COMPRESSIONS))
def test_a_context_in_every_compression(tmp_path: Path, compression: str) -> None:
    data = COMPRESSIONS[compression](tar_of(CONTEXT))
    buildcontext.extract(io.BytesIO(data), tmp_path)
    assert (tmp_path / "src" / "app.txt").read_bytes() == b"hello\n"
    assert os.readlink(tmp_path / "src" / "link") == "app.txt"
    assert os.stat(tmp_path / "src" / "same").st_ino == os.stat(tmp_path / "src/app.txt").st_ino
    # a context is not a layer: a `.wh.` file is just a file
    assert (tmp_path / "src" / ".wh.kept").read_bytes() == b"not a whiteout\n"


def test_names_resolve_inside_the_context(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    data = tar_of([("file", "../evil", b"x"), ("file", "/abs/name", b"y")])
    buildcontext.extract(io.BytesIO(data), root)
    assert (root / "evil").read_bytes() == b"x" and (root / "abs" / "name").read_bytes() == b"y"
    assert not (tmp_path / "evil").exists()


def test_a_hard_link_to_nothing_is_refused(tmp_path: Path) -> None:
    data = tar_of([("hardlink", "hl", "../../etc/passwd")])
    with pytest.raises(BuildContextError) as err:
        buildcontext.extract(io.BytesIO(data), tmp_path)
    assert err.value.message == "link /etc/passwd /hl: no such file or directory"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a tar\n", "unexpected EOF"),
        (b"x" * 2048, "archive/tar: invalid tar header"),
        (gzip.compress(tar_of(CONTEXT))[:40], "unexpected EOF"),
    ],
)
def test_what_is_not_a_context(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(BuildContextError) as err:
        buildcontext.extract(io.BytesIO(data), tmp_path)
    assert err.value.message == message


def test_locating_the_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "Build.df").write_text("FROM busybox\n")
    (tmp_path / "dockerfile").write_text("FROM busybox\n")
    # the default name falls back to its lower-case form; no other does
    assert buildcontext.locate_dockerfile(tmp_path) == "dockerfile"
    assert buildcontext.locate_dockerfile(tmp_path, "sub/Build.df") == "sub/Build.df"
    assert buildcontext.locate_dockerfile(tmp_path, "/sub/../sub/Build.df") == "sub/Build.df"
    for missing in ("Nope", "sub", "SUB/build.df"):
        with pytest.raises(BuildContextError) as err:
            buildcontext.locate_dockerfile(tmp_path, missing)
        assert err.value.message == f"Cannot locate specified Dockerfile: {missing}"
    # a symlink out of the context is not followed
    (tmp_path / "out").symlink_to("/etc/hostname")
    with pytest.raises(BuildContextError):
        buildcontext.locate_dockerfile(tmp_path, "out")
    assert buildcontext.read_dockerfile(tmp_path, "sub/Build.df") == "FROM busybox\n"


def test_build_files_dropped_when_ignored(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    (tmp_path / "keep").write_text("k")
    assert buildcontext.drop_build_files(tmp_path, "Dockerfile") == []
    (tmp_path / ".dockerignore").write_text("# build files\nDockerfile\n.dockerignore\n")
    removed = buildcontext.drop_build_files(tmp_path, "Dockerfile")
    assert sorted(removed) == [".dockerignore", "Dockerfile"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep"]


def test_a_tar_that_ends_right_after_the_last_files_data(tmp_path: Path) -> None:
    # What the docker CLI sends with `-f` outside the context: no padding
    # after the last member and no end blocks (Go's reader takes it).
    full = tar_of([("file", "f", b"ctx\n"), ("file", ".dockerignore", b"last\n")])
    header_end = full.index(b"last\n")
    buildcontext.extract(io.BytesIO(full[: header_end + 5]), tmp_path)
    assert (tmp_path / ".dockerignore").read_bytes() == b"last\n"
    assert (tmp_path / "f").read_bytes() == b"ctx\n"
    # cut inside the data it is still a short read
    with pytest.raises(BuildContextError):
        (tmp_path / "other").mkdir()
        buildcontext.extract(io.BytesIO(full[: header_end + 3]), tmp_path / "other")


def test_what_the_dockerignore_excludes_is_removed(tmp_path: Path) -> None:
    files = {
        "Dockerfile": "FROM x\n",
        ".dockerignore": "*.log\nbuild/\n!build/keep\nDockerfile\n",
        "a.txt": "a",
        "debug.log": "d",
        "build/out.o": "o",
        "build/keep": "k",
        "deep/er/x.log": "x",
        "deep/er/y.txt": "y",
    }
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    (tmp_path / "link.log").symlink_to("a.txt")
    removed = buildcontext.apply_dockerignore(tmp_path, "Dockerfile")
    left = sorted(
        str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file() or p.is_symlink()
    )
    # *.log matches at the top only (Go's filepath.Match), so deep/er/x.log stays;
    # the Dockerfile is dockerd's to drop (drop_build_files), not this pass's
    assert left == [
        ".dockerignore",
        "Dockerfile",
        "a.txt",
        "build/keep",
        "deep/er/x.log",
        "deep/er/y.txt",
    ]
    assert removed == 3


def test_sums_taken_while_unpacking_match_the_sums_of_the_files(tmp_path: Path) -> None:
    from hangu_image.builder import copying

    big = os.urandom(300 << 10)
    data = tar_of([("dir", "d", b""), ("file", "d/big", big), ("file", "d/small", b"s")])
    sums = copying.ContextSums()
    buildcontext.extract(io.BytesIO(data), tmp_path, sums)
    assert sums.get("d/big") is not None and sums.get("d/small") is None
    with_known = copying.plan(tmp_path, ["d"], "/x/", instruction="COPY", known=sums)
    fresh = copying.plan(tmp_path, ["d"], "/x/", instruction="COPY")
    assert with_known.checksum == fresh.checksum
    # a file made with another header than it was summed under is summed again
    os.chmod(tmp_path / "d" / "big", 0o600)
    again = copying.plan(tmp_path, ["d"], "/x/", instruction="COPY", known=sums)
    assert again.checksum == copying.plan(tmp_path, ["d"], "/x/", instruction="COPY").checksum
    assert again.checksum != fresh.checksum


@pytest.mark.parametrize("size", [0, 1, 511, 512, 1024, 1 << 20, (1 << 20) + 3])
def test_file_contents_arrive_whole_in_chunks_of_any_size(tmp_path: Path, size: int) -> None:
    content = os.urandom(size)
    data = tar_of([("file", "a", content), ("file", "b", b"after")])
    for cut in (1, 7, 512, 4096, len(data)):
        dest = tmp_path / str(cut)
        dest.mkdir()
        chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
        buildcontext.extract(iter(chunks), dest)
        assert (dest / "a").read_bytes() == content
        assert (dest / "b").read_bytes() == b"after"
