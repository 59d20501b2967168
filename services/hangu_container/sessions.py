"""Attach sessions: one client attached to one container.

A session made before the container runs waits; `Lifecycle.start` connects
it to conmon's attach socket before `runc start`, so no early output is
lost. Stdin sent before that is buffered and flushed on connect; a
close_stdin becomes a shutdown of our write side, which conmon turns into
EOF on the container's stdin. Output goes to `items()` as (stream, data),
then ("exit", code) once the container has ended, then the iterator stops."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Union

from hangu_runtime import logging as hlog

from .attach import STDERR, STDOUT, AttachConnection

log = hlog.get_logger("hangu.container.attach")

Item = Union[tuple[str, bytes], tuple[str, int], None]


def parse_detach_keys(spec: str) -> bytes:
    """Docker's detach key format: "ctrl-p,ctrl-q", "a,ctrl-@", ... ("" = default)."""
    out = bytearray()
    for key in (spec or "ctrl-p,ctrl-q").split(","):
        key = key.strip()
        if len(key) == 1:
            out.append(ord(key))
        elif key.lower().startswith("ctrl-") and len(key) == 6:
            ch = key[5].lower()
            if ch == "@":
                out.append(0)
            elif "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in "[\\]^_":
                out.append(0x1B + "[\\]^_".index(ch))
            else:
                raise ValueError(f"invalid detach key: {key}")
        else:
            raise ValueError(f"invalid detach key: {key}")
    return bytes(out)


class AttachSession:
    def __init__(self, stdin: bool, stdout: bool, stderr: bool,
                 detach_keys: bytes = b"") -> None:
        self.detach_keys = detach_keys
        self._matched = 0           # bytes of detach_keys seen so far
        self.detached = False
        self.want_stdin = stdin
        self.want_stdout = stdout
        self.want_stderr = stderr
        self._out: queue.Queue[Item] = queue.Queue()
        self._lock = threading.Lock()
        self._conn: AttachConnection | None = None
        self._pending: list[bytes] = []
        self._stdin_closed = False
        self._closed = False
        self._ended = False

    # ---- from the client side

    def _scan_detach(self, data: bytes) -> bytes | None:
        """`data` to forward, or None once the detach sequence is complete.
        Bytes that may start the sequence are held back until they do not."""
        keys = self.detach_keys
        if not keys:
            return data
        out = bytearray()
        for b in data:
            if b == keys[self._matched]:
                self._matched += 1
                if self._matched == len(keys):
                    self._matched = 0
                    return None
                continue
            if self._matched:
                out += keys[:self._matched]
                self._matched = 0
                if b == keys[0]:
                    self._matched = 1
                    continue
            out.append(b)
        return bytes(out)

    def write_stdin(self, data: bytes) -> None:
        if not self.want_stdin or not data:
            return
        scanned = self._scan_detach(data)
        if scanned is None:
            # The client detaches: its stream ends, the container runs on.
            self.detached = True
            self.close()
            return
        data = scanned
        if not data:
            return
        with self._lock:
            if self._stdin_closed or self._closed:
                return
            if self._conn is None:
                self._pending.append(data)
                return
            conn = self._conn
        try:
            conn.send(data)
        except OSError:
            pass

    def close_stdin(self) -> None:
        if not self.want_stdin:
            return
        with self._lock:
            if self._stdin_closed:
                return
            self._stdin_closed = True
            conn = self._conn
        if conn is not None:
            conn.close_stdin()

    def close(self) -> None:
        """The client went away."""
        with self._lock:
            self._closed = True
            conn = self._conn
        if conn is not None:
            conn.close()
        self._out.put(None)

    @property
    def closed(self) -> bool:
        return self._closed

    def put_log(self, stream: str, data: bytes) -> None:
        if (stream == "stdout" and self.want_stdout) or (stream == "stderr" and self.want_stderr):
            self._out.put((stream, data))

    def items(self) -> Iterator[tuple[str, bytes] | tuple[str, int]]:
        while True:
            item = self._out.get()
            if item is None:
                return
            yield item

    # ---- from the lifecycle side

    def connect(self, socket_path: Path, exit_code: Callable[[], int | None]) -> None:
        """Connect to conmon (the container is created or running); a
        reader thread forwards output, then the exit code."""
        with self._lock:
            if self._closed:
                return
            try:
                conn = AttachConnection(socket_path)
            except OSError as err:
                log.info("attach_connect_failed", error=str(err))
                conn = None
            self._conn = conn
            pending, self._pending = self._pending, []
            stdin_closed = self._stdin_closed
        if conn is not None:
            try:
                for data in pending:
                    conn.send(data)
            except OSError:
                pass
            if stdin_closed:
                conn.close_stdin()
        threading.Thread(target=self._pump, args=(conn, exit_code), name="attach-out",
                         daemon=True).start()

    def _pump(self, conn: AttachConnection | None, exit_code: Callable[[], int | None]) -> None:
        while conn is not None:
            msg = conn.recv()
            if msg is None:
                break
            pipe, data = msg
            if pipe == STDOUT and self.want_stdout:
                self._out.put(("stdout", data))
            elif pipe == STDERR and self.want_stderr:
                self._out.put(("stderr", data))
        code = exit_code()
        if code is not None:
            self._out.put(("exit", code))
        self.end()

    def end(self) -> None:
        """No more output (the container exited, failed to start, or was removed)."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            conn = self._conn
        if conn is not None:
            conn.close()
        self._out.put(None)
