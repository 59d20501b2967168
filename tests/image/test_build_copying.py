# ruff: noqa: E501  (the tables are dockerd's messages, one case a line)
"""COPY and ADD planning and writing, against what dockerd 20.10's classic
builder did with the same context (built there, then `ls -lan` in the image
and `docker history --no-trunc`; the hex below is dockerd's own)."""

from __future__ import annotations

import gzip
import http.server
import io
import os
import stat
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangu_image import gopattern
from hangu_image.builder import copying, placing
from hangu_image.builder.copying import CopyError

# dockerd's sums for this context, sent by the docker 28 CLI
F_TXT = "file:99dab1a7a2dd5d9f985450ffe99777fca12ef0bdae5ec5e071c7846d31930e6d"
DIR = "dir:3b492a59102279c70bb17ecdf81b9ab744bb9207f5263517339d949816f6b0e8"
TXT_WILDCARD = "multi:010011c05f4e801c1a5b899d539f917827aa86eb616e9605891d1ceed0246839"
DIR_WILDCARD = "multi:fb0ce935b30e232e3d8ecd1e30091234420e2c6c7e8221faeeddc451e2805b17"

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")


def make_context(root: Path) -> Path:
    """The context the dockerd runs used."""
    (root / "dir" / "sub").mkdir(parents=True)
    (root / "f.txt").write_text("hello\n")
    (root / "g.txt").write_text("two\n")
    (root / "dir" / "a").write_text("x\n")
    (root / "dir" / "sub" / "b").write_text("y\n")
    os.chmod(root / "dir", 0o700)
    os.chmod(root / "dir" / "sub", 0o750)
    os.chmod(root / "dir" / "a", 0o640)
    for path in (root / "f.txt", root / "g.txt", root / "dir" / "sub" / "b"):
        os.chmod(path, 0o644)
    os.symlink("a", root / "dir" / "lnk")
    os.link(root / "dir" / "a", root / "dir" / "hard")
    os.symlink("/etc/passwd", root / "abslink")
    os.symlink("f.txt", root / "rel.lnk")
    os.utime(root / "f.txt", ns=(981173106_789000000, 981173106_789000000))
    return root


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    return make_context(tmp_path / "ctx")


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    """A destination rootfs with busybox's passwd and group lines."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
        "nobody:x:65534:65534:nobody:/home:/bin/false\n"
    )
    (root / "etc" / "group").write_text("root:x:0:\ndaemon:x:1:\nbin:x:2:\nnogroup:x:65534:\n")
    return root


def listing(root: Path) -> dict[str, tuple[str, int, int, int]]:
    """path -> (kind, mode, uid, gid), as `ls -lan` shows them."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            st = os.lstat(path)
            kind = "d" if stat.S_ISDIR(st.st_mode) else "l" if stat.S_ISLNK(st.st_mode) else "f"
            out[str(path.relative_to(root))] = (
                kind,
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
            )
    return out


# --- the identity: dockerd's history text ------------------------------------

HISTORY = [
    (["f.txt"], "/single", f"COPY {F_TXT} in /single "),
    (["/f.txt"], "/x", f"COPY {F_TXT} in /x "),
    (["dir/../f.txt"], "/x", f"COPY {F_TXT} in /x "),
    (["rel.lnk"], "/deref", f"COPY {F_TXT} in /deref "),  # a top-level symlink is followed
    (["dir"], "/dcopy", f"COPY {DIR} in /dcopy "),
    (["*.txt"], "/wild/", f"COPY {TXT_WILDCARD} in /wild/ "),
    (["./*.txt"], "/w1/", f"COPY {TXT_WILDCARD} in /w1/ "),
    (["dir/*"], "/wd/", f"COPY {DIR_WILDCARD} in /wd/ "),
    (["f.txt", "g.txt"], "rel/", f"COPY {TXT_WILDCARD} in rel/ "),
]


@pytest.mark.parametrize(("sources", "dest", "comment"), HISTORY)
def test_history_is_dockerds(ctx: Path, sources: list[str], dest: str, comment: str) -> None:
    with copying.plan(ctx, sources, dest, instruction="COPY") as planned:
        assert planned.comment() == comment


def test_chown_is_glued_to_the_hash_as_dockerd_writes_it(ctx: Path) -> None:
    with copying.plan(ctx, ["f.txt"], "/own2", instruction="COPY") as planned:
        assert planned.comment("1234") == f"COPY --chown=1234{F_TXT} in /own2 "
    with copying.plan(ctx, ["f.txt"], "/af", instruction="ADD") as planned:
        assert planned.comment() == f"ADD {F_TXT} in /af "


def checksum(ctx: Path, source: str = "dir") -> str:
    with copying.plan(ctx, [source], "/d", instruction="COPY") as planned:
        return planned.checksum


def test_checksum_ignores_mtimes(ctx: Path) -> None:
    before = checksum(ctx)
    os.utime(ctx / "dir" / "sub" / "b", (1, 1))
    os.utime(ctx / "dir", (2, 2))
    assert checksum(ctx) == before == DIR


@pytest.mark.parametrize(
    "change",
    [
        lambda c: (c / "dir" / "sub" / "b").write_text("z\n"),  # content, same size
        lambda c: os.chmod(c / "dir" / "sub" / "b", 0o600),
        lambda c: os.rename(c / "dir" / "sub" / "b", c / "dir" / "sub" / "c"),
        lambda c: os.chmod(c / "dir" / "sub", 0o755),  # a directory's mode
        lambda c: (c / "dir" / "new").write_text(""),
    ],
)
def test_checksum_follows_content_mode_and_names(ctx: Path, change: object) -> None:
    assert checksum(ctx) == DIR
    change(ctx)  # type: ignore[operator]
    assert checksum(ctx) != DIR


# --- the errors: dockerd's words ----------------------------------------------

NOT_FOUND = "file not found in build context or excluded by .dockerignore"
ERRORS = [
    ("COPY", ["missing.txt"], "/x", True, f"COPY failed: {NOT_FOUND}: stat missing.txt: file does not exist"),
    ("ADD", ["missing.txt"], "/x", True, f"ADD failed: {NOT_FOUND}: stat missing.txt: file does not exist"),
    ("COPY", ["dir/nonexist"], "/x", True, f"COPY failed: {NOT_FOUND}: stat dir/nonexist: file does not exist"),
    ("COPY", ["abslink"], "/x", True, f"COPY failed: {NOT_FOUND}: stat abslink: file does not exist"),
    ("COPY", ["/nonexist"], "/x", False, "COPY failed: stat nonexist: file does not exist"),
    ("COPY", ["nomatch*"], "/x/", True, "COPY failed: no source files were specified"),
    ("ADD", ["nomatch*"], "/x/", True, "ADD failed: no source files were specified"),
    ("COPY", ["[a"], "/x", True, "COPY failed: no source files were specified"),
    ("COPY", ["../x"], "/x", True, "COPY failed: forbidden path outside the build context: ../x ()"),
    ("ADD", ["../x"], "/x", True, "ADD failed: forbidden path outside the build context: ../x ()"),
    ("COPY", ["dir/sub/../../../x"], "/x", True,
     "COPY failed: forbidden path outside the build context: dir/sub/../../../x ()"),
    ("COPY", ["/bin/../../x"], "/x", False,
     "COPY failed: forbidden path outside the build context: bin/../../x ()"),
    ("COPY", ["f.txt", "g.txt"], "/x", True,
     "When using COPY with more than one source file, the destination must be a directory and end with a /"),
    ("ADD", ["f.txt", "g.txt"], "/x", True,
     "When using ADD with more than one source file, the destination must be a directory and end with a /"),
    ("COPY", ["*.txt"], "/x", True,
     "When using COPY with more than one source file, the destination must be a directory and end with a /"),
    ("COPY", ["http://127.0.0.1:1/f"], "/d/", True, "COPY failed: source can't be a URL for COPY"),
    ("ADD", ["http://127.0.0.1:1/file.txt"], "/x", True,
     'ADD failed: Get "http://127.0.0.1:1/file.txt": dial tcp 127.0.0.1:1: connect: connection refused'),
]  # fmt: skip


@pytest.mark.parametrize(("instruction", "sources", "dest", "from_context", "message"), ERRORS)
def test_errors_are_dockerds(
    ctx: Path, instruction: str, sources: list[str], dest: str, from_context: bool, message: str
) -> None:
    with pytest.raises(CopyError) as caught:
        copying.plan(ctx, sources, dest, instruction=instruction, from_context=from_context)
    assert caught.value.message == message


def test_an_absolute_symlink_resolves_inside_the_root(ctx: Path) -> None:
    (ctx / "etc").mkdir()
    (ctx / "etc" / "passwd").write_text("mine\n")
    with copying.plan(ctx, ["abslink"], "/x", instruction="COPY") as planned:
        assert planned.sources[0].path == ctx / "etc" / "passwd"


# --- writing -------------------------------------------------------------------


def copy(ctx: Path, rootfs: Path, sources: list[str], dest: str, **kw: object) -> None:
    instruction = str(kw.pop("instruction", "COPY"))
    workdir = str(kw.pop("workdir", "/"))
    from_context = bool(kw.pop("from_context", True))
    with copying.plan(
        ctx, sources, dest, instruction=instruction, workdir=workdir, from_context=from_context
    ) as planned:
        placing.apply(planned, rootfs, **kw)  # type: ignore[arg-type]


TREE = {  # dockerd: COPY dir /dcopy (dir is 0700: the new top is 0755 all the same)
    "a": ("f", 0o640, 0, 0),
    "hard": ("f", 0o640, 0, 0),
    "lnk": ("l", 0o777, 0, 0),
    "sub": ("d", 0o750, 0, 0),
    "sub/b": ("f", 0o644, 0, 0),
}


@needs_root
@pytest.mark.parametrize(
    ("sources", "dest", "workdir", "expected"),
    [
        (["f.txt"], "/single", "/", {"single": ("f", 0o644, 0, 0)}),
        (["f.txt"], "/exists/", "/", {"exists": ("d", 0o755, 0, 0), "exists/f.txt": ("f", 0o644, 0, 0)}),
        (["f.txt"], "rel", "/w/d", {"w": ("d", 0o755, 0, 0), "w/d": ("d", 0o755, 0, 0), "w/d/rel": ("f", 0o644, 0, 0)}),
        (["rel.lnk"], "/deref", "/", {"deref": ("f", 0o644, 0, 0)}),
        (["dir"], "/dcopy", "/", {"dcopy": ("d", 0o755, 0, 0)} | {f"dcopy/{k}": v for k, v in TREE.items()}),
        (["dir"], "/n/a/b/", "/", {"n": ("d", 0o755, 0, 0), "n/a": ("d", 0o755, 0, 0), "n/a/b": ("d", 0o755, 0, 0)}
         | {f"n/a/b/{k}": v for k, v in TREE.items()}),
        # dir/* : sub's contents land beside the files; a matched symlink is followed
        (["dir/*"], "/wd/", "/", {"wd": ("d", 0o755, 0, 0), "wd/a": ("f", 0o640, 0, 0), "wd/b": ("f", 0o644, 0, 0),
                                  "wd/hard": ("f", 0o640, 0, 0), "wd/lnk": ("f", 0o640, 0, 0)}),
    ],
)  # fmt: skip
def test_folder_semantics(
    ctx: Path,
    tmp_path: Path,
    sources: list[str],
    dest: str,
    workdir: str,
    expected: dict[str, object],
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    copy(ctx, out, sources, dest, workdir=workdir)
    assert listing(out) == expected


@needs_root
def test_times_links_and_existing_dirs(ctx: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "already").mkdir(parents=True)
    os.chmod(out / "already", 0o711)
    copy(ctx, out, ["dir"], "/already")
    copy(ctx, out, ["f.txt"], "/f")
    # dockerd: an existing destination keeps its mode; mtimes are whole seconds
    assert stat.S_IMODE(os.stat(out / "already").st_mode) == 0o711
    assert os.stat(out / "f").st_mtime_ns == 981173106_000000000
    assert os.readlink(out / "already" / "lnk") == "a"
    assert os.stat(out / "already" / "a").st_ino == os.stat(out / "already" / "hard").st_ino
    assert (out / "f").read_text() == "hello\n"


@needs_root
def test_a_symlink_in_dest_is_followed_inside_the_rootfs(ctx: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "real").mkdir(parents=True)
    os.symlink("/real", out / "link")
    copy(ctx, out, ["f.txt"], "/link/")
    assert (out / "real" / "f.txt").read_text() == "hello\n"


@needs_root
def test_chown(ctx: Path, rootfs: Path) -> None:
    # dockerd: --chown=daemon is 1:1 (the group named like the user); a number
    # is both ids; the parents made for a file get the owner, those made for a
    # directory copy do not (only its top does)
    cases = [
        ("daemon", "/own1", (1, 1)),
        ("1234", "/own2", (1234, 1234)),
        ("nobody:bin", "/o", (65534, 2)),
    ]
    for chown, dest, ids in cases:
        copy(rootfs, rootfs, ["etc/group"], dest, owner=placing.resolve_owner(rootfs, chown))
        st = os.stat(rootfs / dest.lstrip("/"))
        assert (st.st_uid, st.st_gid) == ids
    copy(ctx, rootfs, ["f.txt"], "/p/q/r", owner=(1, 2))
    copy(ctx, rootfs, ["dir"], "/own3/q/", owner=(1, 2))
    got = listing(rootfs)
    assert [got[p][2:] for p in ("p", "p/q", "p/q/r")] == [(1, 2)] * 3
    assert got["own3"][2:] == (0, 0)
    assert [got[p][2:] for p in ("own3/q", "own3/q/lnk", "own3/q/sub/b")] == [(1, 2)] * 3
    # fmt: skip


@pytest.mark.parametrize(
    ("chown", "message"),
    [
        ("nobodyxx", "can't find uid for user nobodyxx: no such user: nobodyxx"),
        ("root:nogrp", "can't find gid for group nogrp: no such group: nogrp"),
        ("1:2:3", "invalid chown string format: 1:2:3"),
    ],
)
def test_chown_errors_are_dockerds(rootfs: Path, chown: str, message: str) -> None:
    with pytest.raises(CopyError) as caught:
        placing.resolve_owner(rootfs, chown)
    assert (
        caught.value.message == "unable to convert uid/gid chown string to host mapping: " + message
    )


def test_chown_without_names_needs_no_passwd(tmp_path: Path) -> None:
    assert placing.resolve_owner(tmp_path, "7:8") == (7, 8)
    assert placing.resolve_owner(tmp_path, "") is None


@needs_root
def test_copy_from_keeps_owners_unless_chown(ctx: Path, tmp_path: Path) -> None:
    os.chown(ctx / "dir" / "sub" / "b", 7, 8)
    out = tmp_path / "out"
    out.mkdir()
    copy(ctx, out, ["dir"], "/kept", from_context=False)
    copy(ctx, out, ["dir"], "/zero")
    assert os.stat(out / "kept" / "sub" / "b").st_uid == 7
    assert os.stat(out / "zero" / "sub" / "b").st_uid == 0


def test_chmod(ctx: Path, tmp_path: Path) -> None:
    assert placing.parse_chmod("755") == 0o755
    assert placing.parse_chmod("") is None
    with pytest.raises(placing.InvalidArgument, match="invalid chmod parameter: '9'"):
        placing.parse_chmod("9")
    out = tmp_path / "out"
    out.mkdir()
    copy(ctx, out, ["f.txt"], "/f", mode=0o751)
    copy(ctx, out, ["dir"], "/d", mode=0o700)
    assert stat.S_IMODE(os.stat(out / "f").st_mode) == 0o751
    assert {stat.S_IMODE(os.stat(out / p).st_mode) for p in ("d", "d/a", "d/sub", "d/sub/b")} == {
        0o700
    }


# --- ADD: archives and URLs ---------------------------------------------------


def make_tar(path: Path) -> None:
    data = b"t1\n"
    with gzip.open(path, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
        inner = tarfile.TarInfo("inner")
        inner.type, inner.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(inner)
        member = tarfile.TarInfo("inner/t1")
        member.size, member.uid, member.gid, member.mode = len(data), 7, 8, 0o644
        tar.addfile(member, io.BytesIO(data))


@needs_root
def test_add_unpacks_a_local_tar_and_copy_does_not(ctx: Path, tmp_path: Path) -> None:
    make_tar(ctx / "arch.tar.gz")
    (ctx / "plain.gz").write_bytes(gzip.compress(b"plain\n"))
    out = tmp_path / "out"
    out.mkdir()
    copy(ctx, out, ["arch.tar.gz"], "/ex", instruction="ADD")
    copy(ctx, out, ["arch.tar.gz"], "/cp/")
    copy(ctx, out, ["plain.gz"], "/pl/", instruction="ADD")
    got = listing(out)
    # dockerd: the tar's owners are kept (7:8), no --chown applied
    assert got["ex/inner/t1"] == ("f", 0o644, 7, 8)
    assert got["cp/arch.tar.gz"][0] == "f"
    assert "cp/inner" not in got
    assert got["pl/plain.gz"] == ("f", 0o644, 0, 0)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/file.txt") or self.path == "/":
            body = b"served\n"
            self.send_response(200)
            self.send_header("Last-Modified", "Sat, 02 Jan 2010 03:04:05 GMT")
        else:
            body = b"  gone  \n"
            self.send_response(404, "File not found")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@needs_root
def test_add_url(ctx: Path, tmp_path: Path, server: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for dest in ("/u1", "/u2/", "/u3/"):
        url = f"{server}/file.txt" + ("?x=1" if dest == "/u3/" else "")
        with copying.plan(ctx, [url], dest, instruction="ADD") as planned:
            # dockerd's hex for these bytes as file.txt; no "file:" for a URL
            assert planned.comment() == (
                f"ADD 2aeceb14da24418832bd7d7d87bc2e0dc784ef3bfda77f56034064babb69e446 in {dest} "
            )
            placing.apply(planned, out)
    got = listing(out)
    assert got["u1"] == got["u2/file.txt"] == got["u3/file.txt"] == ("f", 0o600, 0, 0)
    assert os.stat(out / "u1").st_mtime == 1262401445  # Last-Modified
    assert (out / "u1").read_text() == "served\n"


def test_add_url_errors(ctx: Path, server: str) -> None:
    with pytest.raises(CopyError) as caught:
        copying.plan(ctx, [f"{server}/nope.txt"], "/x", instruction="ADD")
    assert caught.value.message == (
        f"ADD failed: failed to GET {server}/nope.txt with status 404 File not found: gone"
    )
    with pytest.raises(CopyError) as caught:
        copying.plan(ctx, [f"{server}/"], "/d/", instruction="ADD")
    assert caught.value.message == f"ADD failed: cannot determine filename for source {server}/"


def test_go_match() -> None:
    assert gopattern.match("*.txt", "a.txt")
    assert not gopattern.match("*.txt", "d/a.txt")
    assert gopattern.match("d/[a-c]?", "d/bz")
    assert not gopattern.match("d/[^a-c]?", "d/bz")
    assert gopattern.match("\\*", "*")
    assert not gopattern.match("[a", "[a")
