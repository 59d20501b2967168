"""A build context tar unpacked as it arrives: headers parsed by tarfile
over a forward-only reader of the incoming chunks, file contents written
to their files straight from those chunks (no spool, no stream buffers),
and shown to a watcher on the way, so the builder can sum the files for
its cache while the client is still sending (buildcontext.py)."""

from __future__ import annotations

import io
import itertools
import os
import tarfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from .unpack import CHUNK, COMPRESSED, ChunkReader, LayerError, Unpacker, decompressed

Sink = Callable[[memoryview], object]


class ContentWatcher(Protocol):
    """Sees each regular file's content as it is written."""

    def start(self, rel: str, member: tarfile.TarInfo) -> Sink | None: ...

    def done(self, rel: str, path: str) -> None: ...


class _ForwardReader(io.RawIOBase):
    """The tar as tarfile reads it: `read` for headers, `seek` forward over
    contents, which go to `sink` (at most `remaining` bytes of them: the
    rest is padding)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")
        self.pos = 0
        self.sink: Sink | None = None
        self.remaining = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def _fill(self) -> bool:
        while not self._buf:
            try:
                self._buf = memoryview(next(self._chunks))
            except StopIteration:
                return False
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(b).cast("B")
        done = 0
        while done < len(view) and self._fill():
            take = self._buf[: len(view) - done]
            view[done : done + len(take)] = take
            self._buf = self._buf[len(take) :]
            done += len(take)
            self._pass(take)
        self.pos += done
        return done

    def _pass(self, data: memoryview) -> None:
        """Content bytes to the sink, whichever way tarfile got them: it
        reads, not seeks, the last byte of a file with no padding."""
        if self.sink is not None and self.remaining:
            data = data[: self.remaining]
            self.remaining -= len(data)
            self.sink(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset + (self.pos if whence == io.SEEK_CUR else 0)
        if whence == io.SEEK_END or target < self.pos:
            raise io.UnsupportedOperation("a context tar is read forwards only")
        while self.pos < target and self._fill():
            take = self._buf[: target - self.pos]
            self._buf = self._buf[len(take) :]
            self.pos += len(take)
            self._pass(take)
        return self.pos


def _chunks(source: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    """The uncompressed tar in chunks; a plain tar's own chunks as they came."""
    if hasattr(source, "read"):
        reader = decompressed(source)  # type: ignore[arg-type]
        return iter(lambda: reader.read(CHUNK), b"")
    chunks = iter(source)
    first = next(chunks, b"")
    if len(first) >= 6 and not first.startswith(COMPRESSED):
        return itertools.chain([first], chunks)
    buffered = io.BufferedReader(ChunkReader(itertools.chain([first], chunks)), CHUNK)
    stream = decompressed(buffered)
    return iter(lambda: stream.read(CHUNK), b"")


def unpack_context(
    source: BinaryIO | Iterable[bytes], dest: Path, watcher: ContentWatcher | None = None
) -> None:
    """Unpack a build context tar (any compression) into `dest`, as a
    chrooted untar takes it. Raises LayerError with dockerd's words."""
    reader = _ForwardReader(_chunks(source))
    unpacker = Unpacker(dest, layer=False)
    current: tuple[int, str, str, tarfile.TarInfo] | None = None
    last: tarfile.TarInfo | None = None

    def close_current() -> None:
        nonlocal current
        if current is None:
            return
        fd, path, rel, member = current
        current = None
        reader.sink, reader.remaining = None, 0
        unpacker.end_file(fd, path, rel, member)
        if watcher is not None:
            watcher.done(rel, path)

    try:
        with tarfile.open(fileobj=reader, mode="r:") as tar:
            while True:
                try:
                    member = tar.next()
                except tarfile.ReadError:
                    # The docker CLI's tar of a context with a Dockerfile
                    # from outside it ends right after the last file's data,
                    # with no padding and no end blocks; Go's reader takes
                    # that as the end, and so must this.
                    if last is not None and reader.pos == last.offset_data + last.size:
                        break
                    raise
                close_current()
                if member is None:
                    break
                last = member
                if member.isreg():
                    if member.issparse():
                        raise LayerError("archive/tar: sparse files are not supported")
                    opened = unpacker.begin_file(member)
                    if opened is None:
                        continue
                    fd, path, rel = opened
                    current = (fd, path, rel, member)
                    sinks = [_writer(fd)]
                    watch = watcher.start(rel, member) if watcher is not None else None
                    if watch is not None:
                        sinks.append(watch)
                    reader.sink = sinks[0] if len(sinks) == 1 else _both(sinks[0], sinks[1])
                    reader.remaining = member.size
                else:
                    unpacker.member(tar, member)
            close_current()
    except tarfile.TarError:
        # Go's archive/tar: too short for a header, or not one
        short = reader.pos < tarfile.BLOCKSIZE
        raise LayerError("unexpected EOF" if short else "archive/tar: invalid tar header") from None
    finally:
        if current is not None:
            os.close(current[0])
    unpacker.finish()


def _writer(fd: int) -> Sink:
    def write(data: memoryview) -> None:
        while data:
            data = data[os.write(fd, data) :]

    return write


def _both(first: Sink, second: Sink) -> Sink:
    def both(data: memoryview) -> None:
        first(data)
        second(data)

    return both
