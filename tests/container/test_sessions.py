"""Attach sessions without a container: the one stdin pump (attach and exec)
and stdin held until the container runs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangu_container import sessions
from hangu_container.sessions import AttachSession, ClientInput, pump_input


def test_pump_feeds_stdin_resizes_and_eof() -> None:
    session = AttachSession(True, True, True)
    sizes: list[tuple[int, int]] = []
    inputs = [ClientInput(data=b"ab"), ClientInput(size=(24, 80)), ClientInput(data=b"c")]
    pump_input(session, iter(inputs), lambda h, w: sizes.append((h, w))).join(5)
    assert sizes == [(24, 80)]
    assert session._in.get() == b"ab" and session._in.get() == b"c"
    assert session._in.get() is None and session._in.finished  # the end of input is EOF


class _Log:
    def __init__(self) -> None:
        self.events: dict[str, dict[str, object]] = {}

    def info(self, event: str, **kw: object) -> None:
        self.events[event] = kw


def test_pump_logs_what_it_catches(monkeypatch: pytest.MonkeyPatch) -> None:
    log = _Log()
    monkeypatch.setattr(sessions, "log", log)
    session = AttachSession(True, True, True)

    def broken() -> Iterator[ClientInput]:
        yield ClientInput(size=(1, 1))
        raise RuntimeError("client gone")

    def resize(h: int, w: int) -> None:
        raise OSError("no ctl fifo")

    pump_input(session, broken(), resize).join(5)
    events = log.events
    assert events["resize_failed"]["error"] == "no ctl fifo"
    assert events["client_input_ended"]["error"] == "client gone"
    assert session._in.finished


@pytest.mark.parametrize("hold", [True, False])
def test_stdin_is_held_until_released(tmp_path: Path, hold: bool) -> None:
    path = tmp_path / "attach"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(str(path))
    server.listen(1)
    session = AttachSession(True, True, True)
    session.write_stdin(b"early")
    session.connect(path, lambda: 0, hold_stdin=hold)
    conn, _ = server.accept()
    conn.settimeout(0.3)
    try:
        if hold:
            with pytest.raises(TimeoutError):
                conn.recv(100)
            session.release_stdin()
        conn.settimeout(5)
        assert conn.recv(100) == b"early"
    finally:
        session.close()
        conn.close()
        server.close()
    for t in threading.enumerate():
        if t.name.startswith("attach-"):
            t.join(5)
