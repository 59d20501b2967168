"""`docker exec` as Docker streams it, for each client shape: the docker CLI
(exit codes, -u/-e/-w/--privileged, stdin EOF, paused containers, start
failures) and docker-py (detached, socket, stream, demux, TTY or not), the
raw bytes of the hijacked stream, exec inspect and ExecIDs. Every expected
byte and message here was read off dockerd 20.10 first.

The start's Tty alone decides whether the client's stream is framed (and a
raw stream carries no stderr); the process has a terminal only if the exec
was created with one. docker-py starts a TTY exec with Tty false and reads
frames: answering raw made it fail with "104 is not a valid stream".

Own stack: bridge hgx<rand>, pool 10.238.0.0/16, root /tmp/hgt-exec-*."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from hangu_gateway.hijack import unframe
from tests.support.dockercli import ok
from tests.support.stack import DOCKER, Stack, module_stack, unique, wait_for
from tests.support.terminal import Terminal


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from module_stack("exec", bridge_prefix="hgx", subnet_pool="10.238.0.0/16")


@pytest.fixture(scope="module")
def busybox(stack: Stack, busybox_docker_archive: Path) -> str:
    stack.load_image(busybox_docker_archive)
    return "busybox"


@pytest.fixture(scope="module")
def ctr(stack: Stack, busybox: str) -> Iterator[str]:
    """A running container shared by the module's tests (they only exec)."""
    name = unique("exec")
    ok(stack.run_docker("run", "-d", "--name", name, "--group-add", "42", busybox, "sleep", "1d"))
    yield name
    stack.run_docker("rm", "-f", name)


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[Any]:
    c = stack.docker_client()
    yield c
    c.close()


def _read_all(sock: Any, timeout: float = 30) -> bytes:
    raw = getattr(sock, "_sock", sock)
    raw.settimeout(timeout)
    data = b""
    while chunk := raw.recv(65536):
        data += chunk
    return data


_BOTH = ["sh", "-c", "echo hello; echo err >&2"]


# ------------------------------------------------------------ docker-py shapes


def test_docker_py_stream_shapes(client: Any, ctr: str) -> None:
    c = client.containers.get(ctr)
    assert list(c.exec_run(_BOTH, stream=True).output) == [b"hello\n", b"err\n"]
    r = c.exec_run(_BOTH, demux=True)
    assert (r.exit_code, r.output) == (0, (b"hello\n", b"err\n"))
    r = c.exec_run(_BOTH, demux=True, tty=True)
    assert (r.exit_code, r.output) == (0, (b"hello\r\nerr\r\n", None))
    r = c.exec_run(_BOTH, tty=True)
    assert (r.exit_code, r.output) == (0, b"hello\r\nerr\r\n")
    r = c.exec_run(["sh", "-c", "echo x; exit 5"])
    assert (r.exit_code, r.output) == (5, b"x\n")


def test_docker_py_socket_bytes(client: Any, ctr: str) -> None:
    api = client.api
    e = api.exec_create(ctr, _BOTH)
    frames = unframe(_read_all(api.exec_start(e["Id"], socket=True)))
    assert frames == [(1, b"hello\n"), (2, b"err\n")]
    e = api.exec_create(ctr, _BOTH, tty=True)
    assert _read_all(api.exec_start(e["Id"], socket=True, tty=True)) == b"hello\r\nerr\r\n"


def test_tty_exec_started_without_tty_is_framed(client: Any, ctr: str) -> None:
    """The regression: a TTY exec read by a client that asked for frames."""
    api = client.api
    e = api.exec_create(ctr, _BOTH, tty=True)
    frames = unframe(_read_all(api.exec_start(e["Id"], socket=True)))
    # dockerd: b"\x01\0\0\0\0\0\0\x0chello\r\nerr\r\n" (the frames' cut is timing).
    assert {stream for stream, _ in frames} == {1}
    assert b"".join(data for _, data in frames) == b"hello\r\nerr\r\n"
    e = api.exec_create(ctr, _BOTH, tty=True)
    assert api.exec_start(e["Id"], demux=True) == (b"hello\r\nerr\r\n", None)
    # The other way round: no terminal, one raw stream, stderr not attached.
    e = api.exec_create(ctr, ["sh", "-c", "echo hello; echo err >&2; [ -t 1 ] || echo no-tty"])
    assert api.exec_start(e["Id"], tty=True) == b"hello\nno-tty\n"


def test_docker_py_detached_exec_and_inspect(client: Any, ctr: str) -> None:
    c = client.containers.get(ctr)
    began = time.monotonic()
    r = c.exec_run(["sh", "-c", "echo $$ > /tmp/detached; sleep 2; exit 3"], detach=True)
    assert time.monotonic() - began < 1.5
    assert (r.exit_code, r.output) == (None, "")  # dockerd's empty 200
    api = client.api
    e = api.exec_create(ctr, ["sh", "-c", "sleep 1.5; exit 4"])
    assert api.exec_start(e["Id"], detach=True) == ""  # docker-py: the text of no body
    info = api.exec_inspect(e["Id"])
    assert (info["Running"], info["ExitCode"]) == (True, None)
    assert info["Pid"] > 0
    # The host pid is a real process, in the container's pid namespace.
    init = api.inspect_container(ctr)["State"]["Pid"]
    assert os.readlink(f"/proc/{info['Pid']}/ns/pid") == os.readlink(f"/proc/{init}/ns/pid")
    assert e["Id"] in api.inspect_container(ctr)["ExecIDs"]
    done = wait_for(lambda: not api.exec_inspect(e["Id"])["Running"], timeout=10)
    assert done
    info = api.exec_inspect(e["Id"])
    assert (info["Running"], info["ExitCode"]) == (False, 4)
    assert info["ProcessConfig"] == {
        "tty": False,
        "entrypoint": "sh",
        "arguments": ["-c", "sleep 1.5; exit 4"],
        "privileged": False,
    }
    assert e["Id"] not in (api.inspect_container(ctr)["ExecIDs"] or [])
    # The first, detached exec kept running after its start returned.
    assert c.exec_run(["cat", "/tmp/detached"]).output.strip().isdigit()


def test_exec_ids_lists_created_and_running(client: Any, ctr: str) -> None:
    api = client.api
    created = api.exec_create(ctr, ["true"])["Id"]
    assert created in api.inspect_container(ctr)["ExecIDs"]
    api.exec_start(created)
    assert created not in (api.inspect_container(ctr)["ExecIDs"] or [])
    assert api.exec_inspect(created)["ExitCode"] == 0


# ------------------------------------------------------------- raw protocol


def _post(sock_path: str, path: str, body: dict[str, Any], upgrade: bool = True) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    sock.connect(sock_path)
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += "Connection: Upgrade\r\nUpgrade: tcp\r\n" if upgrade else "Connection: close\r\n"
    sock.sendall(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return sock


def _split_head(data: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, rest = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, rest


def _exec_id(client: Any, ctr: str, cmd: list[str], **kw: Any) -> str:
    return str(client.api.exec_create(ctr, cmd, **kw)["Id"])


def test_raw_start_bytes_and_headers(stack: Stack, client: Any, ctr: str) -> None:
    path = str(stack.docker_socket)
    cmd = ["sh", "-c", "echo hi; echo er >&2; exit 3"]
    # Upgraded, API 1.41: 101 with the raw type although the bytes are framed.
    sock = _post(path, f"/v1.41/exec/{_exec_id(client, ctr, cmd)}/start", {"Tty": False})
    status, headers, rest = _split_head(_read_all(sock))
    assert status == "HTTP/1.1 101 UPGRADED"
    assert headers["content-type"] == "application/vnd.docker.raw-stream"
    assert (headers["connection"], headers["upgrade"]) == ("Upgrade", "tcp")
    assert sorted(unframe(rest)) == [(1, b"hi\n"), (2, b"er\n")]
    # 1.42 and later name the multiplexed type.
    sock = _post(path, f"/v1.44/exec/{_exec_id(client, ctr, cmd)}/start", {"Tty": False})
    status, headers, _ = _split_head(_read_all(sock))
    assert headers["content-type"] == "application/vnd.docker.multiplexed-stream"
    # Not upgraded: 200, still the raw type.
    sock = _post(path, f"/v1.44/exec/{_exec_id(client, ctr, cmd)}/start", {}, upgrade=False)
    status, headers, rest = _split_head(_read_all(sock))
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-type"] == "application/vnd.docker.raw-stream"
    assert sorted(unframe(rest)) == [(1, b"hi\n"), (2, b"er\n")]


def test_second_start_and_unknown_exec(stack: Stack, client: Any, ctr: str) -> None:
    exec_id = _exec_id(client, ctr, ["true"])
    client.api.exec_start(exec_id)
    sock = _post(str(stack.docker_socket), f"/v1.41/exec/{exec_id}/start", {})
    _, _, rest = _split_head(_read_all(sock))
    assert unframe(rest) == [(1, f"Error: Exec command {exec_id} has already run\r\n".encode())]
    sock = _post(str(stack.docker_socket), "/v1.41/exec/nonexist/start", {}, upgrade=False)
    status, _, body = _split_head(_read_all(sock))
    assert status.startswith("HTTP/1.1 404")
    assert json.loads(body)["message"] == "No such exec instance: nonexist"


def test_server_side_detach_keys(stack: Stack, client: Any, ctr: str) -> None:
    """An API client (no CLI doing it locally) detaching from a TTY exec:
    the stream ends, the process runs on."""
    exec_id = _exec_id(client, ctr, ["sh"], stdin=True, tty=True, detach_keys="ctrl-x,x")
    assert client.api.exec_inspect(exec_id)["DetachKeys"] == "GHg="  # base64 of 0x18 "x"
    sock = _post(str(stack.docker_socket), f"/v1.41/exec/{exec_id}/start", {"Tty": True})
    seen = b""
    while b"\r\n\r\n" not in seen:  # clients send stdin once the 101 is in
        seen += sock.recv(4096)
    sock.sendall(b"echo $((6*7))\n")
    while b"42" not in seen:
        seen += sock.recv(4096)
    sock.sendall(b"\x18x")
    _read_all(sock, timeout=10)  # ends: no timeout
    info = client.api.exec_inspect(exec_id)
    assert info["Running"] and Path(f"/proc/{info['Pid']}").exists()
    bad = client.api._post_json(
        client.api._url("/containers/{0}/exec", ctr), data={"Cmd": ["true"], "DetachKeys": "ctrl-1"}
    )
    assert bad.status_code == 400
    assert bad.json()["message"] == "Invalid escape keys (ctrl-1) provided"


def test_stdin_eof_through_the_socket(client: Any, ctr: str) -> None:
    api = client.api
    e = api.exec_create(ctr, ["sh", "-c", "cat; sleep 0.3; echo done"], stdin=True)
    sock = api.exec_start(e["Id"], socket=True)
    raw = getattr(sock, "_sock", sock)
    raw.sendall(b"piped\n")
    raw.shutdown(socket.SHUT_WR)
    assert unframe(_read_all(raw)) == [(1, b"piped\n"), (1, b"done\n")]
    assert api.exec_inspect(e["Id"])["ExitCode"] == 0


# ------------------------------------------------------------- the docker CLI


def test_cli_exit_codes_and_start_failures(stack: Stack, ctr: str) -> None:
    assert stack.run_docker("exec", ctr, "sh", "-c", "exit 42").returncode == 42
    runc = "OCI runtime exec failed: exec failed: unable to start container process: "
    cases = [
        (["/nonexist"], 'exec: "/nonexist": stat /nonexist: no such file or directory: unknown'),
        (["/etc/passwd"], 'exec: "/etc/passwd": permission denied: unknown'),
    ]
    for cmd, text in cases:
        done = stack.run_docker("exec", ctr, *cmd)
        # dockerd: 126 for every failed start; the message on stdout
        # (ending "\r\n", which text mode reads as "\n").
        assert (done.returncode, done.stdout) == (126, runc + text + "\n")
    done = stack.run_docker("exec", "-w", "/nonexist", ctr, "pwd")
    assert done.returncode == 126
    assert 'chdir to cwd ("/nonexist") set in config.json failed' in done.stdout
    # Repeated: a start failing while the CLI half-closes its side once
    # raced into "Internal error from Core" or a 500 inside the stream.
    for _ in range(10):
        done = stack.run_docker("exec", "-u", "nosuch", ctr, "id")
        assert (done.returncode, done.stdout) == (
            126,
            "unable to find user nosuch: no matching entries in passwd file\n",
        )


def test_cli_user_env_workdir_privileged(stack: Stack, ctr: str) -> None:
    out = ok(stack.run_docker("exec", "-u", "nobody", ctr, "sh", "-c", "id -u; id -g; id -G"))
    uid, gid, groups = out.split("\n")[:3]
    assert (uid, gid) == ("65534", "65534")
    assert "42" in groups.split()  # the container's --group-add
    assert ok(stack.run_docker("exec", "-u", "1234:55", ctr, "sh", "-c", "id -u; id -g")) == (
        "1234\n55\n"
    )
    assert (
        ok(
            stack.run_docker(
                "exec", "-e", "A=1", "-e", "B=two", "-w", "/tmp", ctr, "sh", "-c", "pwd; echo $A-$B"
            )
        )
        == "/tmp\n1-two\n"
    )

    def cap_eff(*flags: str) -> int:
        line = ok(stack.run_docker("exec", *flags, ctr, "grep", "CapEff", "/proc/self/status"))
        return int(line.split()[1], 16)

    plain, privileged = cap_eff(), cap_eff("--privileged")
    assert plain & (1 << 21) == 0  # no CAP_SYS_ADMIN
    assert privileged & (1 << 21) and privileged & plain == plain


def test_cli_stdin_eof_output_keeps_flowing(stack: Stack, ctr: str) -> None:
    done = stack.run_docker(
        "exec", "-i", ctr, "sh", "-c", "cat; sleep 0.5; echo done", input="input\n"
    )
    assert (done.returncode, done.stdout) == (0, "input\ndone\n")
    # A large input is read in full, then the output after EOF still comes.
    big = "x" * 2_000_000
    done = stack.run_docker("exec", "-i", ctr, "sh", "-c", "wc -c; echo after", input=big)
    assert done.stdout.split() == ["2000000", "after"]


def test_cli_exec_into_paused_container(stack: Stack, ctr: str) -> None:
    ok(stack.run_docker("pause", ctr))
    try:
        done = stack.run_docker("exec", ctr, "true")
        assert done.returncode == 1
        assert (
            f"Error response from daemon: Container {ctr} is paused, "
            "unpause the container before exec"
        ) in done.stderr
    finally:
        ok(stack.run_docker("unpause", ctr))
    assert stack.run_docker("exec", ctr, "true").returncode == 0


def test_cli_detached_and_tty(stack: Stack, ctr: str) -> None:
    ok(stack.run_docker("exec", "-d", ctr, "sh", "-c", "sleep 0.5; echo late > /tmp/late"))
    assert wait_for(lambda: stack.run_docker("exec", ctr, "cat", "/tmp/late").stdout == "late\n")
    child = Terminal(
        [DOCKER, "exec", "-it", "--detach-keys", "ctrl-x,x", ctr, "sh"], env=stack.env, timeout=30
    )
    try:
        child.expect("/ # ")
        child.sendline("tty; echo mark-$((6*7))")
        child.expect("/dev/pts/")
        child.expect("mark-42")
        child.send("\x18x")
        child.expect("read escape sequence")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    # The shell that was left runs on.
    assert " sh" in ok(stack.run_docker("exec", ctr, "ps", "-o", "pid,args"))
