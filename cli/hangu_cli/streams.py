"""The attach stream: Docker's 8-byte frame header (stream id, 3 zero
bytes, big-endian length) without a TTY, raw bytes with one; and copying
our stdin into it, closing the write side on EOF so the container sees EOF."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from typing import BinaryIO

STDIN, STDOUT, STDERR = 0, 1, 2


def copy_output(
    sock: socket.socket, initial: bytes, tty: bool, stdout: BinaryIO, stderr: BinaryIO
) -> None:
    """Copy the container's output until the server closes the stream."""
    if tty:
        data = initial
        while True:
            if data:
                stdout.write(data)
                stdout.flush()
            data = sock.recv(65536)
            if not data:
                return
    buffer = bytearray(initial)
    while True:
        while len(buffer) >= 8:
            kind, length = struct.unpack(">BxxxL", bytes(buffer[:8]))
            if len(buffer) < 8 + length:
                break
            payload = bytes(buffer[8 : 8 + length])
            del buffer[: 8 + length]
            target = stderr if kind == STDERR else stdout
            target.write(payload)
            target.flush()
        chunk = sock.recv(65536)
        if not chunk:
            return
        buffer.extend(chunk)


def pump_stdin(sock: socket.socket, source: BinaryIO) -> threading.Thread:
    """Send `source` to the container in a thread; half-close on EOF."""

    def run() -> None:
        fd = source.fileno()
        try:
            while True:
                data = os.read(fd, 65536)
                if not data:
                    break
                sock.sendall(data)
        except OSError:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    thread = threading.Thread(target=run, name="stdin", daemon=True)
    thread.start()
    return thread
