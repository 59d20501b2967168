"""Event messages and their filters; stats samples in Docker's shape."""

from hangu.container.v1 import container_pb2 as cpb
from hangu.types.v1 import types_pb2 as tpb
from hangu_gateway.routers.events import event_json, matches
from hangu_gateway.routers.files import stats_json


def _event(action: str = "start", cid: str = "a" * 64) -> dict[str, object]:
    ev = tpb.Event(
        action=action, id=cid, attributes={"name": "web", "image": "busybox", "app": "x"}
    )
    ev.time.FromNanoseconds(1_700_000_000_123_456_789)
    return event_json("container", ev)


def test_event_shape() -> None:
    ev = _event()
    assert ev["Type"] == "container" and ev["Action"] == "start"
    assert ev["Actor"] == {
        "ID": "a" * 64,
        "Attributes": {"name": "web", "image": "busybox", "app": "x"},
    }
    assert ev["time"] == 1_700_000_000 and ev["timeNano"] == 1_700_000_000_123_456_789
    assert ev["scope"] == "local"


def test_event_filters() -> None:
    ev = _event()
    assert matches(ev, {})
    assert matches(ev, {"type": ["container"], "event": ["start", "die"]})
    assert not matches(ev, {"type": ["image"]})
    assert matches(ev, {"container": ["web"]}) and matches(ev, {"container": ["aaaa"]})
    assert not matches(ev, {"container": ["other"]})
    assert matches(ev, {"label": ["app=x"]}) and not matches(ev, {"label": ["app=y"]})
    assert matches(_event("exec_start: sh"), {"event": ["exec_start"]})


def test_stats_shape() -> None:
    c = cpb.Container(id="b" * 64, name="web")
    prev = cpb.StatsSample(cpu_total_usage=100, system_cpu_usage=1000, online_cpus=2)
    cur = cpb.StatsSample(
        cpu_total_usage=300,
        system_cpu_usage=2000,
        online_cpus=2,
        memory_usage=4096,
        memory_limit=8192,
        pids_current=3,
        memory_stats={"inactive_file": 1024},
    )
    cur.networks["eth0"].rx_bytes = 10
    doc = stats_json(c, cur, prev)
    assert doc["name"] == "/web" and doc["id"] == "b" * 64
    assert doc["cpu_stats"]["cpu_usage"]["total_usage"] == 300
    assert doc["precpu_stats"]["system_cpu_usage"] == 1000
    assert doc["memory_stats"] == {"usage": 4096, "limit": 8192, "stats": {"inactive_file": 1024}}
    assert doc["networks"]["eth0"]["rx_bytes"] == 10
    assert doc["pids_stats"] == {"current": 3}
