"""Content store: blobs addressed by digest under <root>/image/content.

A blob is written to a temporary file while its digest is computed, checked
against the expected digest, fsync'd and renamed into place, so the store
never holds a half-written or wrong blob under a digest name."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from hangu_runtime.errors import InvalidArgument, NotFound

CHUNK = 1 << 20


class DigestMismatch(InvalidArgument):
    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"digest mismatch: expected {expected}, got {actual}")
        self.expected, self.actual = expected, actual


def check_digest(digest: str) -> str:
    algo, _, hexd = digest.partition(":")
    if algo != "sha256" or len(hexd) != 64 or any(c not in "0123456789abcdef" for c in hexd):
        raise InvalidArgument(f"invalid digest {digest!r}")
    return hexd


class ContentStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.ingest = root / "ingest"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.ingest.mkdir(parents=True, exist_ok=True)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, digest: str) -> threading.Lock:
        """Serialises fetching one blob, so concurrent pulls download it once."""
        with self._guard:
            return self._locks.setdefault(digest, threading.Lock())

    def path(self, digest: str) -> Path:
        return self.blobs / check_digest(digest)

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: str) -> int:
        return self.path(digest).stat().st_size

    def read(self, digest: str) -> bytes:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"content {digest} not found") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path(digest), "rb")
        except FileNotFoundError:
            raise NotFound(f"content {digest} not found") from None

    def put(self, data: bytes, expected: str | None = None) -> str:
        return self.write_chunks([data], expected)

    def write_chunks(
        self,
        chunks: Iterable[bytes],
        expected: str | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        """Store a stream of chunks; returns its digest. With `expected`, a
        mismatch raises DigestMismatch and leaves nothing behind."""
        hasher = hashlib.sha256()
        fd, tmp = tempfile.mkstemp(dir=self.ingest, prefix="blob-")
        done = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                    done += len(chunk)
                    if on_progress is not None:
                        on_progress(done)
                out.flush()
                os.fsync(out.fileno())
            digest = "sha256:" + hasher.hexdigest()
            if expected is not None and digest != expected:
                raise DigestMismatch(expected, digest)
            os.rename(tmp, self.path(digest))
            return digest
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def write_stream(
        self,
        src: BinaryIO,
        expected: str | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> str:
        return self.write_chunks(iter(lambda: src.read(CHUNK), b""), expected, on_progress)

    def adopt(self, path: Path, digest: str) -> None:
        """Move a file whose digest the caller computed into the store
        (same filesystem: a rename, no copy)."""
        check_digest(digest)
        if self.has(digest):
            path.unlink(missing_ok=True)
            return
        os.rename(path, self.path(digest))

    def ingest_file(self) -> tuple[int, str]:
        """A temporary file in the ingest dir (fd, path)."""
        return tempfile.mkstemp(dir=self.ingest, prefix="blob-")

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def clean_ingest(self) -> None:
        """Drop temporary files a crash left behind."""
        for entry in self.ingest.iterdir():
            entry.unlink(missing_ok=True)
