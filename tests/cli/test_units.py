"""Pure parts of the hangu CLI: formatting, references, the attach stream
demultiplexer, the container config `run` sends."""

from __future__ import annotations

import io
import os
import socket
import struct
import threading

import pytest

from hangu_cli import output
from hangu_cli.commands import run
from hangu_cli.commands.images import split_reference
from hangu_cli.main import build_parser
from hangu_cli.streams import copy_output, pump_stdin
from hangu_runtime import units


def test_table_aligns_columns() -> None:
    out = io.StringIO()
    output.table(["A", "LONG HEADER"], [["xxxxx", "1"], ["y", "22"]], out)
    assert out.getvalue().splitlines() == [
        "A       LONG HEADER",
        "xxxxx   1",
        "y       22",
    ]


def test_sizes_and_durations_as_docker_prints_them() -> None:
    assert units.human_size(999) == "999B"
    assert units.human_size(4_261_412) == "4.261MB"
    assert units.human_size(1_000_000_000) == "1GB"
    assert units.human_duration(0.2) == "Less than a second"
    assert units.human_duration(30) == "30 seconds"
    assert units.human_duration(90) == "About a minute"
    assert units.human_duration(3 * 3600) == "3 hours"
    assert output.ago(100, now=105) == "5 seconds ago"


def test_split_reference() -> None:
    assert split_reference("busybox") == ("busybox", "latest")
    assert split_reference("busybox:1.36") == ("busybox", "1.36")
    assert split_reference("127.0.0.1:5000/busybox") == ("127.0.0.1:5000/busybox", "latest")
    assert split_reference("127.0.0.1:5000/a/b:v1") == ("127.0.0.1:5000/a/b", "v1")
    digest = "sha256:" + "a" * 64
    assert split_reference(f"busybox@{digest}") == ("busybox", digest)


def test_ports_column() -> None:
    assert output.ports([{"PrivatePort": 80, "Type": "tcp"}]) == "80/tcp"
    assert (
        output.ports([{"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}])
        == "127.0.0.1:8080->80/tcp"
    )


def frame(kind: int, data: bytes) -> bytes:
    return struct.pack(">BxxxL", kind, len(data)) + data


def test_demultiplexes_frames_split_anywhere() -> None:
    a, b = socket.socketpair()
    stream = frame(1, b"hello ") + frame(2, b"oops\n") + frame(1, b"world\n")
    initial, rest = stream[:3], stream[3:]

    def send() -> None:
        for i in range(0, len(rest), 5):
            a.sendall(rest[i : i + 5])
        a.close()

    threading.Thread(target=send).start()
    out, err = io.BytesIO(), io.BytesIO()
    copy_output(b, initial, False, out, err)
    b.close()
    assert out.getvalue() == b"hello world\n"
    assert err.getvalue() == b"oops\n"


def test_tty_stream_is_raw() -> None:
    a, b = socket.socketpair()
    a.sendall(b"\x01\x00raw")
    a.close()
    out = io.BytesIO()
    copy_output(b, b"x", True, out, io.BytesIO())
    b.close()
    assert out.getvalue() == b"x\x01\x00raw"


def test_stdin_eof_half_closes() -> None:
    a, b = socket.socketpair()
    r, w = os.pipe()
    os.write(w, b"data\n")
    os.close(w)
    with os.fdopen(r, "rb") as source:
        pump_stdin(a, source).join(5)
    received = b""
    while chunk := b.recv(100):
        received += chunk
    assert received == b"data\n"  # and then EOF: the write side was shut
    a.close()
    b.close()


def test_run_config() -> None:
    args = build_parser().parse_args(
        ["run", "--rm", "-i", "-e", "A=1", "--name", "x", "busybox", "sh", "-c", "exit 3"]
    )
    config = run.container_config(args)
    assert config["Image"] == "busybox"
    assert config["Cmd"] == ["sh", "-c", "exit 3"]
    assert config["Env"] == ["A=1"]
    assert config["AttachStdin"] and config["OpenStdin"] and config["StdinOnce"]
    # --rm without -d: the CLI removes the container once it has the code.
    assert config["HostConfig"]["AutoRemove"] is False
    detached = run.container_config(
        build_parser().parse_args(["run", "--rm", "-d", "busybox", "sleep", "9"])
    )
    assert detached["HostConfig"]["AutoRemove"] is True
    assert not detached["AttachStdout"]


def test_host_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANGU_HOST", "unix:///tmp/x.sock")
    assert build_parser().parse_args(["ps"]).host == "unix:///tmp/x.sock"
    assert build_parser().parse_args(["-H", "unix:///y", "ps"]).host == "unix:///y"


def test_unreachable_daemon_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    from hangu_cli.main import main

    assert main(["-H", "unix:///nonexistent/hangu.sock", "ps"]) == 1
    err = capsys.readouterr().err
    assert "Cannot connect to the hangu daemon at unix:///nonexistent/hangu.sock" in err
    assert "Traceback" not in err
