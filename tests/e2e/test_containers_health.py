"""Health checks end to end, as dockerd runs them: --health-* flags and the
image's HEALTHCHECK, probes run inside the container on schedule (start
period, start interval, timeout, retries), State.Health with its log,
`docker ps` STATUS and its health filter, health_status and exec events,
and health kept across a restart of the container service."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.stack import Stack, inspect, module_stack, unique, wait_for


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from module_stack("health", bridge_prefix="hgh", subnet_pool="10.237.0.0/16")


@pytest.fixture(scope="module")
def busybox(stack: Stack, busybox_docker_archive: Path) -> str:
    stack.load_image(busybox_docker_archive)
    return "busybox"


def _ok(done: Any) -> str:
    assert done.returncode == 0, done.stderr
    return str(done.stdout)


def _run(stack: Stack, image: str, *flags: str, cmd: tuple[str, ...] = ("sleep", "300")) -> str:
    name = unique("hc")
    _ok(stack.run_docker("run", "-d", "--name", name, *flags, image, *cmd))
    return name


def _health(stack: Stack, name: str) -> dict[str, Any] | None:
    health: dict[str, Any] | None = inspect(stack, name)["State"].get("Health")
    return health


def _wait_status(stack: Stack, name: str, status: str, timeout: float = 15) -> dict[str, Any]:
    health = wait_for(
        lambda: (h := _health(stack, name)) is not None and h["Status"] == status and h, timeout
    )
    assert health, f"{name} never {status}: {_health(stack, name)}"
    return dict(health)


def _ps_status(stack: Stack, name: str) -> str:
    return _ok(stack.run_docker("ps", "-a", "--filter", f"name={name}", "--format", "{{.Status}}"))


def _rm(stack: Stack, *names: str) -> None:
    stack.run_docker("rm", "-f", *names)


def _ts(text: str) -> float:
    # Go's RFC 3339 with nanoseconds: keep microseconds for Python
    base, _, rest = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{base}.{(rest + '000000')[:6]}+00:00").timestamp()


def test_failing_probe_counts_retries_and_keeps_five_log_entries(
    stack: Stack, busybox: str
) -> None:
    name = _run(
        stack,
        busybox,
        "--health-cmd",
        "echo hi from $(hostname); exit 3",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
    )
    try:
        cid = inspect(stack, name)["Id"]
        health = _wait_status(stack, name, "unhealthy")
        assert health["FailingStreak"] >= 2
        entry = health["Log"][-1]
        # run inside the container: its hostname is the container's
        assert entry["ExitCode"] == 3 and entry["Output"] == f"hi from {cid[:12]}\n"
        assert _ts(entry["Start"]) <= _ts(entry["End"])
        assert "(unhealthy)" in _ps_status(stack, name)
        health = wait_for(lambda: (h := _health(stack, name)) and h["FailingStreak"] >= 7 and h)
        assert health, _health(stack, name)
        assert len(health["Log"]) == 5
        starts = [_ts(e["Start"]) for e in health["Log"]]
        assert starts == sorted(starts)
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert all(0.15 < g < 2 for g in gaps), gaps  # on the 200ms schedule
    finally:
        _rm(stack, name)


def test_healthy_unhealthy_by_what_the_container_has(stack: Stack, busybox: str) -> None:
    name = _run(
        stack,
        busybox,
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
    )
    plain = _run(stack, busybox)
    try:
        assert _health(stack, plain) is None
        _ok(stack.run_docker("exec", name, "touch", "/tmp/ok"))
        health = _wait_status(stack, name, "healthy")
        assert health["FailingStreak"] == 0 and health["Log"][-1]["ExitCode"] == 0
        assert "(healthy)" in _ps_status(stack, name)
        assert "(" not in _ps_status(stack, plain)

        def ids(value: str) -> set[str]:
            out = _ok(stack.run_docker("ps", "-q", "--no-trunc", "--filter", f"health={value}"))
            return set(out.split())

        cid, plain_id = inspect(stack, name)["Id"], inspect(stack, plain)["Id"]
        assert cid in ids("healthy") and cid not in ids("unhealthy")
        assert plain_id in ids("none") and plain_id not in ids("healthy")
        _ok(stack.run_docker("exec", name, "rm", "/tmp/ok"))
        _wait_status(stack, name, "unhealthy")
        assert cid in ids("unhealthy") and cid not in ids("healthy")
        bad = stack.run_docker("ps", "--filter", "health=bogus")
        assert bad.returncode != 0
        assert "Unrecognised filter value for health: bogus" in bad.stderr
    finally:
        _rm(stack, name, plain)


def test_starting_then_start_period_and_start_interval(stack: Stack, busybox: str) -> None:
    name = _run(
        stack,
        busybox,
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "30s",
        "--health-start-period",
        "30s",
        "--health-start-interval",
        "200ms",
        "--health-retries",
        "1",
    )
    try:
        assert "(health: starting)" in _ps_status(stack, name)
        cid = inspect(stack, name)["Id"]
        starting = _ok(stack.run_docker("ps", "-q", "--no-trunc", "--filter", "health=starting"))
        assert cid in starting.split()
        # failures in the start period, probed every 200ms, do not count
        health = wait_for(lambda: (h := _health(stack, name)) and len(h["Log"]) >= 3 and h)
        assert health, _health(stack, name)
        assert health["Status"] == "starting" and health["FailingStreak"] == 0
        assert all(e["ExitCode"] == 1 for e in health["Log"])
        # a success ends the start period at once (the start interval, not 30s)
        _ok(stack.run_docker("exec", name, "touch", "/tmp/ok"))
        _wait_status(stack, name, "healthy", timeout=5)
    finally:
        _rm(stack, name)


def test_timeout_kills_the_probe_with_dockers_message(stack: Stack, busybox: str) -> None:
    name = _run(
        stack,
        busybox,
        "--health-cmd",
        "echo part; exec sleep 7",
        "--health-interval",
        "200ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
    )
    try:
        health = _wait_status(stack, name, "unhealthy")
        entry = health["Log"][0]
        assert entry["ExitCode"] == -1
        assert entry["Output"] == "Health check exceeded timeout (300ms): part\n"
        assert 0.25 < _ts(entry["End"]) - _ts(entry["Start"]) < 3
        # each probe is killed in the container: the 7 s sleeps do not pile up
        wait_for(lambda: (h := _health(stack, name)) and len(h["Log"]) >= 4)
        procs = _ok(stack.run_docker("exec", name, "ps", "-o", "args"))
        assert procs.count("sleep 7") <= 1, procs
    finally:
        _rm(stack, name)


def test_output_truncated_to_4096_bytes(stack: Stack, busybox: str) -> None:
    name = _run(
        stack,
        busybox,
        "--health-cmd",
        "head -c 5000 /dev/zero | tr '\\0' a",
        "--health-interval",
        "200ms",
    )
    try:
        health = _wait_status(stack, name, "healthy")
        assert health["Log"][0]["Output"] == "a" * 4096 + "..."
    finally:
        _rm(stack, name)


def test_image_healthcheck_overrides_and_no_healthcheck(
    stack: Stack, busybox: str, tmp_path: Path
) -> None:
    tag = f"hgt/health-{unique('img')}"
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox}\nHEALTHCHECK --interval=200ms --retries=1 CMD test -f /tmp/ok\n"
    )
    _ok(stack.run_docker("build", "-q", "-t", tag, str(tmp_path), timeout=300))
    from_image = _run(stack, tag)
    off = _run(stack, tag, "--no-healthcheck")
    # the image's test, the user's interval
    other = _run(stack, tag, "--health-interval", "250ms", "--health-retries", "4")
    try:
        _wait_status(stack, from_image, "unhealthy")
        assert _health(stack, off) is None
        # dockerd merges the image's fields into NONE too; zero ones are left out
        off_hc = inspect(stack, off)["Config"]["Healthcheck"]
        assert off_hc == {"Test": ["NONE"], "Interval": 200_000_000, "Retries": 1}
        hc = inspect(stack, other)["Config"]["Healthcheck"]
        assert hc == {
            "Test": ["CMD-SHELL", "test -f /tmp/ok"],
            "Interval": 250_000_000,
            "Retries": 4,
        }
        _ok(stack.run_docker("exec", other, "touch", "/tmp/ok"))
        _wait_status(stack, other, "healthy")
        time.sleep(0.5)
        assert _health(stack, off) is None
        assert "(" not in _ps_status(stack, off)
    finally:
        _rm(stack, from_image, off, other)
        stack.run_docker("rmi", tag)


def test_events_for_probes_and_status_changes(stack: Stack, busybox: str) -> None:
    since = time.time()
    name = _run(
        stack,
        busybox,
        "--health-cmd",
        "test -f /tmp/ok",
        "--health-interval",
        "200ms",
        "--health-retries",
        "1",
        "-l",
        "hgt.health=1",
    )
    try:
        cid = inspect(stack, name)["Id"]
        _wait_status(stack, name, "unhealthy")
        _ok(stack.run_docker("exec", name, "touch", "/tmp/ok"))
        _wait_status(stack, name, "healthy")
        out = _ok(
            stack.run_docker(
                "events",
                "--since",
                f"{since:.3f}",
                "--until",
                f"{time.time() + 0.5:.3f}",
                "--filter",
                f"container={cid}",
                "--format",
                "{{json .}}",
            )
        )
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        actions = [e["Action"] for e in events]
        assert "health_status: unhealthy" in actions and "health_status: healthy" in actions
        assert actions.index("health_status: unhealthy") < actions.index("health_status: healthy")
        status = next(e for e in events if e["Action"] == "health_status: healthy")
        attrs = status["Actor"]["Attributes"]
        assert attrs["name"] == name and attrs["image"] == busybox and attrs["hgt.health"] == "1"
        assert status["Type"] == "container" and status["Actor"]["ID"] == cid
        create = next(e for e in events if e["Action"].startswith("exec_create"))
        assert create["Action"] == "exec_create: /bin/sh -c test -f /tmp/ok"
        exec_id = create["Actor"]["Attributes"]["execID"]
        started = [e for e in events if e["Action"].startswith("exec_start")]
        assert any(e["Actor"]["Attributes"]["execID"] == exec_id for e in started)
        died = next(
            e
            for e in events
            if e["Action"] == "exec_die" and e["Actor"]["Attributes"]["execID"] == exec_id
        )
        assert died["Actor"]["Attributes"]["exitCode"] == "1"
    finally:
        _rm(stack, name)


def test_stop_start_pause_and_service_restart(stack: Stack, busybox: str) -> None:
    name = _run(
        stack,
        busybox,
        "--health-cmd",
        "exit 0",
        "--health-interval",
        "200ms",
    )
    try:
        _wait_status(stack, name, "healthy")
        _ok(stack.run_docker("stop", "-t", "0", name))
        health = _health(stack, name)
        assert health is not None and health["Status"] == "unhealthy" and health["Log"]
        kept = len(health["Log"])
        cid = inspect(stack, name)["Id"]
        out = _ok(stack.run_docker("ps", "-aq", "--no-trunc", "--filter", "health=unhealthy"))
        assert cid in out.split()
        _ok(stack.run_docker("start", name))
        health = _health(stack, name)
        assert health is not None and health["FailingStreak"] == 0
        assert health["Status"] in ("starting", "healthy") and len(health["Log"]) >= kept
        _wait_status(stack, name, "healthy")
        _ok(stack.run_docker("pause", name))
        assert _health(stack, name)["Status"] == "unhealthy"  # type: ignore[index]
        _ok(stack.run_docker("unpause", name))
        _wait_status(stack, name, "healthy")

        # the service dies: the container runs on; its health is kept and probed again
        before = _health(stack, name)
        assert before is not None
        last = _ts(before["Log"][-1]["Start"])
        stack.kill_service("container", signal.SIGKILL)
        after = _health(stack, name)
        assert after is not None and after["Status"] == "healthy"
        assert after["Log"] and _ts(after["Log"][0]["Start"]) <= last
        assert wait_for(
            lambda: (h := _health(stack, name)) and _ts(h["Log"][-1]["Start"]) > time.time() - 1
        ), _health(stack, name)
    finally:
        _rm(stack, name)


def test_docker_py_healthcheck(stack: Stack, busybox: str) -> None:
    client = stack.docker_client()
    c = client.containers.run(
        busybox,
        ["sleep", "300"],
        detach=True,
        name=unique("hcpy"),
        healthcheck={
            "test": ["CMD", "sh", "-c", "echo py; exit 1"],
            "interval": 200_000_000,
            "retries": 2,
        },
    )
    try:

        def unhealthy() -> dict[str, Any] | None:
            c.reload()
            h: dict[str, Any] = c.attrs["State"]["Health"]
            return h if h["Status"] == "unhealthy" else None

        health = wait_for(unhealthy, 15)
        assert health, c.attrs["State"]
        assert health["FailingStreak"] >= 2 and health["Log"][-1]["Output"] == "py\n"
        assert c.attrs["Config"]["Healthcheck"]["Test"] == ["CMD", "sh", "-c", "echo py; exit 1"]
        assert c.id in {x.id for x in client.containers.list(filters={"health": "unhealthy"})}
    finally:
        c.remove(force=True)
        client.close()


def test_bad_healthcheck_refused_as_dockerd(stack: Stack, busybox: str) -> None:
    import docker

    client = stack.docker_client()
    try:
        for hc, message in (
            (
                {"test": ["CMD", "true"], "interval": 500},
                "Interval in Healthcheck cannot be less than 1ms",
            ),
            ({"test": ["CMD", "true"], "retries": -1}, "Retries in Healthcheck cannot be negative"),
        ):
            name = unique("hcbad")
            with pytest.raises(docker.errors.APIError) as err:
                client.api.create_container(busybox, ["true"], name=name, healthcheck=hc)
            assert err.value.status_code == 400
            assert err.value.explanation == message
            assert stack.run_docker("inspect", name).returncode != 0  # nothing created
    finally:
        client.close()
