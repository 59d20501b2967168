"""Attach sessions: one client attached to one container.

A session made before the container runs waits; `Lifecycle.start` connects
it to conmon's attach socket before `runc start`, so no early output is
lost. Connecting never blocks: stdin sent before the start waits in a
bounded buffer that a writer thread of the session flushes once the
container runs. A session connected before `runc start` holds its stdin
(`hold_stdin`) until the start has returned (`release_stdin`): conmon
would write it into the pipe of a process that cannot read yet, and more
than a pipe holds wedges the start. The start itself never waits for
stdin to be taken. A close_stdin becomes a shutdown of our write side once
the buffer is drained, which conmon turns into EOF on the container's
stdin. Output goes to `items()` as (stream, data), then ("exit", code) once
the container has ended, then the iterator stops.

Threads per connected session: the client's (write_stdin, blocking while
the stdin buffer is full: back-pressure to gRPC's flow control), a reader
of conmon's socket (blocking while the output buffer is full: back-pressure
to conmon, hence to the container), a writer to it (stdin sessions), and
the gRPC thread iterating `items()`. The reader owns the socket: it closes
it once the writer has returned."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from hangu_runtime import logging as hlog

from .attach import STDERR, STDOUT, AttachConnection
from .iobuffer import DEFAULT_LIMIT, BoundedBuffer

log = hlog.get_logger("hangu.container.attach")

Item = tuple[str, bytes] | tuple[str, int]

# Output chunks already queued are sent as one message up to this size
# (conmon reads the container's pipes 8 KiB at a time).
COALESCE = 256 * 1024
# Seconds a client may take nothing once the process has died (_deliver).
STALLED = 5.0


def pid_gone(pid: int) -> bool:
    """The process is a zombie or gone (0: not known yet, so not gone)."""
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


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
    def __init__(
        self,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        detach_keys: bytes = b"",
        tty: bool = False,
        limit: int = DEFAULT_LIMIT,
    ) -> None:
        # dockerd looks for the detach sequence only in a TTY's input: in a
        # raw stream (`docker run -i` fed a file) ctrl-p ctrl-q is just data.
        self.detach_keys = detach_keys if tty else b""
        self._matched = 0  # bytes of detach_keys seen so far
        self.detached = False
        self.want_stdin = stdin
        self.want_stdout = stdout
        self.want_stderr = stderr
        self._in: BoundedBuffer[bytes] = BoundedBuffer(limit)
        self._out: BoundedBuffer[Item] = BoundedBuffer(limit)
        self._lock = threading.Lock()
        self._conn: AttachConnection | None = None
        self._closed = False
        self._ended = False
        self._connected = False
        self._process_gone: Callable[[], bool] | None = None
        # Set once stdin may go to conmon (see the module docstring).
        self._stdin_released = threading.Event()

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
                out += keys[: self._matched]
                self._matched = 0
                if b == keys[0]:
                    self._matched = 1
                    continue
            out.append(b)
        return bytes(out)

    def write_stdin(self, data: bytes) -> None:
        """Queue stdin for the container; blocks while the buffer is full
        (until the container reads, the client leaves or the session ends)."""
        if not self.want_stdin or not data:
            return
        scanned = self._scan_detach(data)
        if scanned is None:
            # The client detaches: its stream ends, the container runs on.
            self.detached = True
            self.close()
            return
        if scanned:
            self._in.put(scanned, len(scanned))

    def close_stdin(self) -> None:
        """The client's EOF: reaches conmon once what is queued is written."""
        if self.want_stdin:
            self._in.finish()

    def close(self) -> None:
        """The client went away. Any thread; never blocks."""
        with self._lock:
            self._closed = True
            conn = self._conn
        self._in.abort()
        self._out.abort()
        self._stdin_released.set()  # a held writer wakes and sees the abort
        if conn is not None:
            conn.abort()  # wakes the reader (and writer), which close it

    @property
    def closed(self) -> bool:
        return self._closed

    def put_log(self, stream: str, data: bytes) -> None:
        # Before the stream starts: not bounded (the log file bounds it), as
        # the thread that will consume it is the one calling.
        if (stream == "stdout" and self.want_stdout) or (stream == "stderr" and self.want_stderr):
            self._out.put((stream, data), len(data), block=False)

    def items(self) -> Iterator[Item]:
        held: Item | None = None
        while True:
            item = held if held is not None else self._out.get()
            held = None
            if item is None:
                return
            kind, value = item
            if not isinstance(value, bytes):
                yield item
                continue
            parts, size = [value], len(value)
            while size < COALESCE:
                ok, nxt = self._out.get_nowait()
                if not ok or nxt is None:
                    break
                if nxt[0] != kind or not isinstance(nxt[1], bytes):
                    held = nxt
                    break
                parts.append(nxt[1])
                size += len(nxt[1])
            yield kind, parts[0] if len(parts) == 1 else b"".join(parts)

    # ---- from the lifecycle side

    def connect(
        self,
        socket_path: Path,
        exit_code: Callable[[], int | None],
        process_gone: Callable[[], bool] | None = None,
        hold_stdin: bool = False,
    ) -> None:
        """Connect to conmon (the container is created or running); a
        reader thread forwards output, then the exit code. Never waits for
        the container. `process_gone` tells whether the process has died:
        a client that stops reading then is cut off (see `_deliver`).
        `hold_stdin`: keep stdin queued until `release_stdin` (a container
        created but not started yet)."""
        self._process_gone = process_gone
        if not hold_stdin:
            self._stdin_released.set()
        with self._lock:
            if self._closed or self._ended:
                return
            try:
                conn: AttachConnection | None = AttachConnection(socket_path)
            except OSError as err:
                log.info("attach_connect_failed", error=str(err))
                conn = None
            self._conn = conn
            self._connected = True
        threading.Thread(
            target=self._read, args=(conn, exit_code), name="attach-out", daemon=True
        ).start()

    def release_stdin(self) -> None:
        """The container runs: queued stdin may go to conmon now."""
        self._stdin_released.set()

    def _read(self, conn: AttachConnection | None, exit_code: Callable[[], int | None]) -> None:
        writer = None
        if conn is not None and self.want_stdin:
            writer = threading.Thread(
                target=self._write, args=(conn,), name="attach-stdin", daemon=True
            )
            writer.start()
        try:
            while conn is not None:
                msg = conn.recv()
                if msg is None:
                    break
                pipe, data = msg
                if pipe == STDOUT and self.want_stdout:
                    kind = "stdout"
                elif pipe == STDERR and self.want_stderr:
                    kind = "stderr"
                else:
                    continue
                if not self._deliver((kind, data), len(data)):
                    break  # the client left
        finally:
            if conn is not None:
                # The container ended (conmon closed the socket) or the
                # client left: stop the writer, then close, exactly once.
                self._in.abort()
                self._stdin_released.set()
                conn.abort()
                if writer is not None:
                    writer.join()
                conn.close()
        try:
            if not self._out.aborted:
                code = exit_code()
                if code is not None:
                    self._out.put(("exit", code), 0)
        finally:
            self._out.finish()

    def _deliver(self, item: Item, size: int) -> bool:
        """Queue output, waiting while the client is slow: that holds conmon
        (and the container) back instead of buffering here. But conmon
        reports an exit only once it has written all output: a client that
        stops reading for good would keep a dead container "running" (and
        `docker stop` waiting). Once the process has died, a client that
        takes nothing for STALLED seconds is cut off, as dockerd gives its
        attach streams a grace period after an exit."""
        waited = 0.0
        while True:
            try:
                return self._out.put(item, size, timeout=1.0)
            except TimeoutError:
                gone = self._process_gone
                waited = waited + 1.0 if gone is not None and gone() else 0.0
                if waited >= STALLED:
                    log.info("attach_client_stalled_after_exit")
                    self.close()
                    return False

    def _write(self, conn: AttachConnection) -> None:
        self._stdin_released.wait()
        while True:
            data = self._in.get()
            if data is None:
                break
            try:
                conn.send(data)
            except OSError:
                self._in.abort()
                return
        if self._in.finished:
            conn.close_stdin()

    def end(self) -> None:
        """No more output (the container exited, failed to start, or was removed)."""
        with self._lock:
            if self._ended:
                return
            self._ended = True
            conn = self._conn
            connected = self._connected
        if connected:
            if conn is not None:
                conn.abort()  # the reader finishes the output
            return
        self._in.abort()
        self._out.finish()


@dataclass(frozen=True)
class ClientInput:
    """One message of a client's input stream: stdin bytes, a terminal
    size, or the client's EOF (any of them)."""

    data: bytes = b""
    size: tuple[int, int] | None = None
    close_stdin: bool = False


def pump_input(
    session: AttachSession,
    inputs: Iterator[ClientInput],
    resize: Callable[[int, int], None],
    name: str = "attach-in",
) -> threading.Thread:
    """Feed a client's input into `session` on a thread of its own (attach
    and exec alike): stdin, resizes (through `resize(height, width)`), and
    EOF. The end of the input stream counts as EOF too, whether the client
    half-closed or went away (then the error is logged)."""

    def run() -> None:
        try:
            for item in inputs:
                if item.data:
                    session.write_stdin(item.data)
                if item.size is not None:
                    try:
                        resize(*item.size)
                    except Exception as err:  # a resize never ends the session
                        log.info("resize_failed", error=str(err))
                if item.close_stdin:
                    session.close_stdin()
        except Exception as err:  # the client's stream broke (cancelled, gone)
            log.info("client_input_ended", error=str(err) or type(err).__name__)
        session.close_stdin()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread
