"""A build context that is not sent but named (POST /build?remote=URL, as
docker-py sends a URL path): a git repository, cloned; or an http(s) URL
whose body is a context tar (any compression) or, when it is not an
archive, the Dockerfile itself (moby's remotecontext.Detect)."""

from __future__ import annotations

import subprocess
import tempfile
import urllib.parse
from pathlib import Path

from .. import buildcontext
from ..buildcontext import BuildContextError
from ..unpack import COMPRESSED
from . import fetch

GIT_TIMEOUT = 600.0


def is_git_url(remote: str) -> bool:
    """moby's urlutil.IsGitURL."""
    if remote.startswith(("git://", "git@", "github.com/")):
        return True
    if fetch.is_url(remote):
        path = urllib.parse.urlsplit(remote).path
        return path.endswith(".git") or ".git#" in remote
    return False


def fetch_context(remote: str, dest: Path, dockerfile: str) -> None:
    """Fill the empty folder `dest` with the context `remote` names."""
    if is_git_url(remote):
        _clone(remote, dest)
    elif fetch.is_url(remote):
        _download(remote, dest, dockerfile)
    else:
        raise BuildContextError(f"unable to prepare context: invalid remote context {remote}")


def _download(remote: str, dest: Path, dockerfile: str) -> None:
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        try:
            name = fetch.download(remote, Path(tmp))
        except fetch.FetchError as err:
            raise BuildContextError(f"error downloading remote context {remote}: {err}") from None
        body = Path(tmp) / (name or fetch.UNNAMED)
        with open(body, "rb") as fh:
            head = fh.read(512)
            if _is_archive(head):
                fh.seek(0)
                buildcontext.extract(fh, dest)
                return
        # Not an archive: the body is the Dockerfile, the context is empty.
        body.rename(dest / (dockerfile or buildcontext.DEFAULT_DOCKERFILE))


def _is_archive(head: bytes) -> bool:
    return head.startswith(COMPRESSED) or head[257:262] == b"ustar"


def _clone(remote: str, dest: Path) -> None:
    """`git clone` of URL[#ref[:subdir]] (moby's gitutils), the context
    being the subdir when one is named."""
    url, _, fragment = remote.partition("#")
    ref, _, subdir = fragment.partition(":")
    if url.startswith("github.com/"):
        url = "https://" + url
    work = dest.parent / "git"
    command = ["git", "clone", "--quiet", "--recurse-submodules", "--depth", "1"]
    if ref:
        command += ["--branch", ref]
    try:
        done = subprocess.run(
            [*command, "--", url, str(work)],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            stdin=subprocess.DEVNULL,
            env={"GIT_TERMINAL_PROMPT": "0", "PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise BuildContextError(
            f"unable to 'git clone' to temporary context directory: {err}"
        ) from None
    if done.returncode != 0:
        raise BuildContextError(
            "unable to 'git clone' to temporary context directory: error fetching: "
            f"{done.stderr.strip()}: exit status {done.returncode}"
        )
    root = work / subdir if subdir else work
    if not root.resolve().is_relative_to(work.resolve()) or not root.is_dir():
        raise BuildContextError(f"unable to prepare context: subdirectory {subdir} not found")
    dest.rmdir()
    root.rename(dest)
