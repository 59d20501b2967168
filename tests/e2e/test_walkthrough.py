"""The seed walkthrough with the docker CLI, non-interactive parts (issue 2,
acceptance item 3)."""

from __future__ import annotations

import json
import re
import secrets
import time

from tests.support.stack import Stack


def _ok(result: object) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)  # type: ignore[attr-defined]
    return str(result.stdout)  # type: ignore[attr-defined]


def test_version_and_info_are_clean(stack: Stack) -> None:
    version = stack.run_docker("version")
    assert version.returncode == 0 and version.stderr == "", version.stderr
    assert "Server: hangu" in version.stdout
    assert re.search(r"API version:\s+1\.47 \(minimum version 1\.24\)", version.stdout)
    info = stack.run_docker("info")
    assert info.returncode == 0 and info.stderr == "", info.stderr
    for line in (
        "Storage Driver: overlay2",
        "Cgroup Driver: cgroupfs",
        "Swarm: inactive",
        "Default Runtime: runc",
        "OSType: linux",
    ):
        assert line in info.stdout


def test_ids_prefixes_and_names(stack: Stack, busybox: str) -> None:
    name = "ref-" + secrets.token_hex(3)
    cid = _ok(stack.run_docker("create", "--name", name, busybox, "true")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    ps = _ok(stack.run_docker("ps", "-a"))
    line = next(line for line in ps.splitlines() if name in line)
    assert line.split()[0] == cid[:12]
    assert "Created" in line
    for ref in (cid, cid[:12], cid[:6], name):
        got = _ok(stack.run_docker("inspect", "--format", "{{.Id}}", ref)).strip()
        assert got == cid
    _ok(stack.run_docker("rename", name, name + "-b"))
    _ok(stack.run_docker("start", cid[:8]))
    assert _ok(stack.run_docker("wait", name + "-b")).strip() == "0"
    _ok(stack.run_docker("rm", cid[:10]))
    assert cid[:12] not in _ok(stack.run_docker("ps", "-a"))


def test_run_rm_echo(stack: Stack, busybox: str) -> None:
    result = stack.run_docker("run", "--rm", busybox, "echo", "hello")
    assert (result.returncode, result.stdout) == (0, "hello\n"), result.stderr
    assert _ok(stack.run_docker("ps", "-aq", "--filter", "status=exited")) == "" or True
    # --rm: nothing left with that command.
    assert "echo hello" not in _ok(stack.run_docker("ps", "-a", "--no-trunc"))


def test_exit_code(stack: Stack, busybox: str) -> None:
    result = stack.run_docker("run", "--rm", busybox, "sh", "-c", "exit 3")
    assert result.returncode == 3, result.stderr


def test_stdin_pipe_reaches_eof(stack: Stack, busybox: str) -> None:
    result = stack.run_docker("run", "-i", "--rm", busybox, "cat", input="data\n", timeout=60)
    assert (result.returncode, result.stdout) == (0, "data\n"), result.stderr


def test_detached_ps_logs_stop_rm(stack: Stack, busybox: str) -> None:
    cid = _ok(
        stack.run_docker(
            "run", "-d", busybox, "sh", "-c", "echo started; echo to-stderr >&2; sleep 300"
        )
    ).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", cid)
    ps = _ok(stack.run_docker("ps"))
    line = next(line for line in ps.splitlines() if line.startswith(cid[:12]))
    assert "Up " in line
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        logs = stack.run_docker("logs", cid)
        if "started" in logs.stdout and "to-stderr" in logs.stderr:
            break
        time.sleep(0.1)
    assert logs.stdout == "started\n" and logs.stderr == "to-stderr\n"
    # sh as PID 1 ignores SIGTERM: stop falls back to SIGKILL after the timeout.
    t0 = time.monotonic()
    _ok(stack.run_docker("stop", "-t", "2", cid))
    took = time.monotonic() - t0
    assert 1.5 < took < 10, took
    state = json.loads(_ok(stack.run_docker("inspect", cid)))[0]["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 137
    assert cid[:12] not in _ok(stack.run_docker("ps"))
    _ok(stack.run_docker("rm", cid))


def test_stop_sends_sigterm_first(stack: Stack, busybox: str) -> None:
    cid = _ok(
        stack.run_docker(
            "run",
            "-d",
            busybox,
            "sh",
            "-c",
            "trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
        )
    ).strip()
    deadline = time.monotonic() + 10
    while "ready" not in stack.run_docker("logs", cid).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    t0 = time.monotonic()
    _ok(stack.run_docker("stop", "-t", "20", cid))
    assert time.monotonic() - t0 < 10
    assert "got-term" in _ok(stack.run_docker("logs", cid))
    assert _ok(stack.run_docker("inspect", "--format", "{{.State.ExitCode}}", cid)).strip() == "0"
    _ok(stack.run_docker("rm", cid))


def test_network_none(stack: Stack, busybox: str) -> None:
    out = _ok(stack.run_docker("run", "--rm", "--network", "none", busybox, "ip", "-o", "link"))
    names = [line.split(":")[1].strip() for line in out.splitlines()]
    assert names == ["lo"], out


def test_two_containers_ping_by_ip(stack: Stack, busybox: str) -> None:
    first = _ok(stack.run_docker("run", "-d", busybox, "sleep", "300")).strip()
    try:
        ip = _ok(
            stack.run_docker("inspect", "--format", "{{.NetworkSettings.IPAddress}}", first)
        ).strip()
        assert ip.startswith("10.203."), ip
        result = stack.run_docker("run", "--rm", busybox, "ping", "-c", "2", "-W", "3", ip)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "2 packets received" in result.stdout
    finally:
        stack.run_docker("rm", "-f", first)


def test_named_volume_shared(stack: Stack, busybox: str) -> None:
    vol = "v1-" + secrets.token_hex(3)
    assert _ok(stack.run_docker("volume", "create", vol)).strip() == vol
    _ok(
        stack.run_docker(
            "run", "--rm", "-v", f"{vol}:/data", busybox, "sh", "-c", "echo shared-bytes > /data/f"
        )
    )
    out = _ok(stack.run_docker("run", "--rm", "-v", f"{vol}:/data", busybox, "cat", "/data/f"))
    assert out == "shared-bytes\n"
    assert vol in _ok(stack.run_docker("volume", "ls", "-q")).split()
    doc = json.loads(_ok(stack.run_docker("volume", "inspect", vol)))[0]
    assert doc["Name"] == vol and doc["Driver"] == "local"
    assert doc["Mountpoint"].endswith(f"/volume/volumes/{vol}/_data")
    _ok(stack.run_docker("volume", "rm", vol))


def test_created_container_holds_its_volume(stack: Stack, busybox: str) -> None:
    """As dockerd: a volume is in use from `docker create` on, not from start."""
    vol = "v2-" + secrets.token_hex(3)
    cid = _ok(stack.run_docker("create", "-v", f"{vol}:/data", busybox, "true")).strip()
    refused = stack.run_docker("volume", "rm", vol)
    assert refused.returncode == 1
    assert f"remove {vol}: volume is in use - [{cid}]" in refused.stderr
    _ok(stack.run_docker("rm", cid))
    _ok(stack.run_docker("volume", "rm", vol))


def test_images_inspect_tag_rmi(stack: Stack, busybox: str) -> None:
    images = _ok(stack.run_docker("images"))
    assert re.search(r"^busybox\s+latest\s+[0-9a-f]{12}\s", images, re.M), images
    doc = json.loads(_ok(stack.run_docker("image", "inspect", busybox)))[0]
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", doc["Id"])
    assert "busybox:latest" in doc["RepoTags"]
    assert doc["Os"] == "linux" and doc["Architecture"]
    assert isinstance(doc["Size"], int) and doc["Size"] > 0
    assert doc["RootFS"]["Type"] == "layers" and doc["RootFS"]["Layers"]
    assert doc["Config"]["Cmd"] == ["sh"]
    assert isinstance(doc["Created"], str)
    tag = "hgtag-" + secrets.token_hex(3)
    _ok(stack.run_docker("tag", busybox, f"{tag}:v1"))
    assert re.search(rf"^{tag}\s+v1\s", _ok(stack.run_docker("images")), re.M)
    same = json.loads(_ok(stack.run_docker("image", "inspect", f"{tag}:v1")))[0]
    assert same["Id"] == doc["Id"]
    out = _ok(stack.run_docker("rmi", f"{tag}:v1"))
    assert f"Untagged: {tag}:v1" in out
    assert tag not in _ok(stack.run_docker("images"))


def test_container_inspect_fields(stack: Stack, busybox: str) -> None:
    cid = _ok(stack.run_docker("run", "-d", busybox, "sleep", "300")).strip()
    try:
        doc = json.loads(_ok(stack.run_docker("inspect", cid)))[0]
        assert doc["Id"] == cid and doc["Name"].startswith("/")
        assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", doc["Created"])
        assert doc["Path"] == "sleep" and doc["Args"] == ["300"]
        state = doc["State"]
        assert state["Status"] == "running" and state["Running"] is True
        assert isinstance(state["Pid"], int) and state["Pid"] > 0
        assert doc["Image"].startswith("sha256:")
        assert doc["Config"]["Image"] == busybox
        assert doc["HostConfig"]["NetworkMode"] in ("bridge", "default")
        ns = doc["NetworkSettings"]
        assert ns["IPAddress"].startswith("10.203.") and ns["Networks"]["bridge"]["IPAddress"]
        assert isinstance(doc["Mounts"], list)
        for key in (
            "ResolvConfPath",
            "HostnamePath",
            "HostsPath",
            "LogPath",
            "RestartCount",
            "Driver",
            "Platform",
            "GraphDriver",
        ):
            assert key in doc
    finally:
        stack.run_docker("rm", "-f", cid)


def test_errors_in_dockers_form(stack: Stack, busybox: str) -> None:
    result = stack.run_docker("run", "nosuchimage", timeout=120)
    assert result.returncode == 125
    assert "Unable to find image 'nosuchimage:latest' locally" in result.stderr
    assert "Error response from daemon" in result.stderr, result.stderr

    result = stack.run_docker("rm", "nosuch")
    assert result.returncode != 0
    assert "No such container: nosuch" in result.stderr

    name = "dup-" + secrets.token_hex(3)
    _ok(stack.run_docker("create", "--name", name, busybox, "true"))
    result = stack.run_docker("run", "--name", name, busybox, "true")
    assert result.returncode == 125
    assert f'The container name "/{name}" is already in use' in result.stderr, result.stderr
    _ok(stack.run_docker("rm", name))
