"""Health-check rules (hangu_container.healthcheck) against what dockerd does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hangu.container.v1 import container_pb2 as cpb
from hangu_container import healthcheck
from hangu_container.model import Health, Healthcheck, HealthResult
from hangu_gateway.container_shape import health_json, status_text
from hangu_runtime.errors import InvalidArgument

MS = 1_000_000
S = 1_000_000_000


@pytest.mark.parametrize(
    ("ns", "text"),
    [
        (0, "0s"),
        (500 * MS, "500ms"),
        (1500 * 1000, "1.5ms"),
        (999, "999ns"),
        (2500, "2.5µs"),
        (S, "1s"),
        (1500 * MS, "1.5s"),
        (30 * S, "30s"),
        (90 * S, "1m30s"),
        (3600 * S, "1h0m0s"),
        (3723 * S + 400 * MS, "1h2m3.4s"),
    ],
)
def test_go_duration(ns: int, text: str) -> None:
    assert healthcheck.go_duration(ns) == text


@pytest.mark.parametrize(
    ("test", "shell", "args"),
    [
        (["CMD", "true"], None, ["true"]),
        (["CMD", "test", "-f", "/x"], None, ["test", "-f", "/x"]),
        (["CMD-SHELL", "echo hi; exit 1"], None, ["/bin/sh", "-c", "echo hi; exit 1"]),
        (["CMD-SHELL", "x"], ["/bin/ash", "-eo"], ["/bin/ash", "-eo", "x"]),
        (["NONE"], None, None),
        ([], None, None),
        (["CMD"], None, None),
        (["WHAT", "x"], None, None),  # dockerd: unknown type, no probe
    ],
)
def test_probe_args(test: list[str], shell: list[str] | None, args: list[str] | None) -> None:
    assert healthcheck.probe_args(test, shell) == args


@pytest.mark.parametrize(
    ("hc", "message"),
    [
        (Healthcheck(interval_ns=500), "Interval in Healthcheck cannot be less than 1ms"),
        (Healthcheck(timeout_ns=1), "Timeout in Healthcheck cannot be less than 1ms"),
        (Healthcheck(retries=-1), "Retries in Healthcheck cannot be negative"),
        (Healthcheck(start_period_ns=10), "StartPeriod in Healthcheck cannot be less than 1ms"),
        (
            Healthcheck(start_interval_ns=10),
            "StartInterval in Healthcheck cannot be less than 1ms",
        ),
    ],
)
def test_validate_refuses_as_dockerd(hc: Healthcheck, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        healthcheck.validate(hc)
    assert err.value.message == message


def test_validate_accepts() -> None:
    healthcheck.validate(None)
    healthcheck.validate(Healthcheck(test=["CMD", "true"], interval_ns=MS, retries=0))


def test_merge_with_the_image() -> None:
    image = {"Test": ["CMD", "img"], "Interval": 5 * S, "Retries": 7, "StartInterval": S}
    assert healthcheck.merge(None, image) == Healthcheck(
        test=["CMD", "img"], interval_ns=5 * S, retries=7, start_interval_ns=S
    )
    # --health-interval alone: the image's test and other fields, the user's interval
    assert healthcheck.merge(Healthcheck(interval_ns=S), image) == Healthcheck(
        test=["CMD", "img"], interval_ns=S, retries=7, start_interval_ns=S
    )
    no = Healthcheck(test=["NONE"])
    assert healthcheck.merge(no, image) == Healthcheck(
        test=["NONE"], interval_ns=5 * S, retries=7, start_interval_ns=S
    )
    assert healthcheck.merge(no, None) is no


def test_next_interval_start_interval_only_while_starting() -> None:
    hc = Healthcheck(interval_ns=10 * S, start_period_ns=60 * S, start_interval_ns=S)
    assert healthcheck.next_interval(hc, "starting", 100.0, 110.0) == 1.0
    assert healthcheck.next_interval(hc, "healthy", 100.0, 110.0) == 10.0
    assert healthcheck.next_interval(hc, "starting", 100.0, 161.0) == 10.0
    # no start interval given: dockerd's default of 5 s in the start period
    hc = Healthcheck(interval_ns=10 * S, start_period_ns=60 * S)
    assert healthcheck.next_interval(hc, "starting", 100.0, 101.0) == 5.0
    assert healthcheck.next_interval(Healthcheck(), "starting", 100.0, 101.0) == 30.0


def _result(code: int, at: float) -> HealthResult:
    t = datetime.fromtimestamp(at, UTC)
    return HealthResult(t, t, code, f"code {code}")


def test_record_streak_retries_and_start_period() -> None:
    hc = Healthcheck(retries=2, start_period_ns=10 * S)
    h = Health()
    # failures in the start period, before any success, do not count
    assert not healthcheck.record(h, _result(1, 105.0), hc, 100.0)
    assert (h.status, h.failing_streak, len(h.log)) == ("starting", 0, 1)
    assert healthcheck.record(h, _result(0, 106.0), hc, 100.0)
    assert (h.status, h.failing_streak) == ("healthy", 0)
    # after a success the start period is over for counting
    assert not healthcheck.record(h, _result(1, 107.0), hc, 100.0)
    assert (h.status, h.failing_streak) == ("healthy", 1)
    assert healthcheck.record(h, _result(2, 108.0), hc, 100.0)
    assert (h.status, h.failing_streak) == ("unhealthy", 2)
    for i in range(5):
        healthcheck.record(h, _result(1, 109.0 + i), hc, 100.0)
    assert h.failing_streak == 7 and len(h.log) == 5
    assert h.log[-1].start.timestamp() == 113.0  # the last five, oldest first
    assert healthcheck.record(h, _result(0, 120.0), hc, 100.0)
    assert (h.status, h.failing_streak) == ("healthy", 0)


def test_record_default_retries_after_start_period() -> None:
    h = Health()
    for _ in range(2):
        assert not healthcheck.record(h, _result(1, 200.0), Healthcheck(), 100.0)
    assert h.failing_streak == 2 and h.status == "starting"
    assert healthcheck.record(h, _result(1, 200.0), Healthcheck(), 100.0)
    assert h.status == "unhealthy"


def test_output_cut_at_4096_bytes() -> None:
    out = healthcheck.Output()
    out.write(b"a" * 4000)
    out.write(b"b" * 200)
    out.write(b"c")
    text = out.text()
    assert text == "a" * 4000 + "b" * 96 + "..."
    small = healthcheck.Output()
    small.write(b"x" * 4096)
    assert small.text() == "x" * 4096


def test_gateway_shapes() -> None:
    h = cpb.Health(status="unhealthy", failing_streak=3)
    h.log.add(exit_code=1, output="hi\n").start.FromNanoseconds(1_700_000_000_123_456_789)
    doc = health_json(h)
    assert doc["Status"] == "unhealthy" and doc["FailingStreak"] == 3
    assert doc["Log"][0]["Start"] == "2023-11-14T22:13:20.123456789Z"
    assert doc["Log"][0]["ExitCode"] == 1 and doc["Log"][0]["Output"] == "hi\n"
    state = cpb.ContainerState(status="running", running=True)
    state.started_at.FromSeconds(1000)
    for status, text in (
        ("starting", "(health: starting)"),
        ("healthy", "(healthy)"),
        ("unhealthy", "(unhealthy)"),
    ):
        state.health.status = status
        assert status_text(state, now=1010).endswith(f"seconds {text}")
