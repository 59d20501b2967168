"""The servicer's converters: Docker's config shapes mirror the proto
field for field, round trips are lossless, and absent stays apart from
empty or zero."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message

from hangu.container.v1 import container_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from hangu_container import converters, model
from hangu_container.store import decode, encode

PAIRS = [
    (model.ContainerConfig, pb.ContainerConfig),
    (model.Healthcheck, pb.Healthcheck),
    (model.HostConfig, pb.HostConfig),
    (model.Mount, pb.Mount),
    (model.Ulimit, pb.Ulimit),
    (model.DeviceMapping, pb.DeviceMapping),
    (model.RestartPolicy, pb.RestartPolicy),
    (model.LogConfig, pb.LogConfig),
    (model.PortBinding, pb.PortBinding),
    (model.PortBindings, pb.PortBindings),
    (model.NetworkingConfig, pb.NetworkingConfig),
    (model.EndpointConfig, pb.EndpointConfig),
    (model.NetworkSettings, pb.NetworkSettings),
    (model.EndpointSettings, pb.EndpointSettings),
    (model.NetworkCounters, pb.NetworkCounters),
]


@pytest.mark.parametrize(("cls", "msg"), PAIRS, ids=[c.__name__ for c, _ in PAIRS])
def test_domain_shapes_mirror_the_proto(cls: type, msg: type[Message]) -> None:
    assert {f.name for f in dataclasses.fields(cls)} == {f.name for f in msg.DESCRIPTOR.fields}


def _full_config() -> pb.ContainerConfig:
    return pb.ContainerConfig(
        hostname="h",
        user="u",
        attach_stdin=True,
        exposed_ports=["80/tcp"],
        tty=True,
        env=["A=1"],
        cmd=tpb.StringList(values=["sh"]),
        entrypoint=tpb.StringList(values=[]),
        healthcheck=pb.Healthcheck(test=["CMD", "true"], interval_ns=5, retries=2),
        image="busybox",
        labels={"k": "v"},
        stop_timeout=0,
        shell=["/bin/sh", "-c"],
    )


def _full_host_config() -> pb.HostConfig:
    return pb.HostConfig(
        binds=["/a:/b:ro"],
        log_config=pb.LogConfig(type="json-file", config={"max-size": "1m"}),
        network_mode="bridge",
        port_bindings={
            "80/tcp": pb.PortBindings(bindings=[pb.PortBinding(host_ip="::", host_port="80")])
        },
        restart_policy=pb.RestartPolicy(name="on-failure", maximum_retry_count=3),
        mounts=[pb.Mount(type="volume", target="/d", volume_labels={"x": "y"})],
        ulimits=[pb.Ulimit(name="nofile", soft=1, hard=2)],
        devices=[pb.DeviceMapping(path_on_host="/dev/null")],
        memory=1 << 20,
        memory_swappiness=0,
        tmpfs={"/run": "size=1m"},
        console_size=[24, 80],
    )


def test_round_trips_are_lossless() -> None:
    cfg = _full_config()
    assert converters.config_to_pb(converters.config_from_pb(cfg)) == cfg
    hc = _full_host_config()
    assert converters.host_config_to_pb(converters.host_config_from_pb(hc)) == hc
    assert converters.host_config_to_pb(converters.host_config_from_pb(pb.HostConfig())) == (
        pb.HostConfig()
    )


def test_endpoint_config_of_a_connect() -> None:
    # `network connect` sends one EndpointConfig on its own.
    msg = pb.EndpointConfig(aliases=["a"], ipv4_address="10.0.0.9", driver_opts={"k": "v"})
    ep = converters.endpoint_config_from_pb(msg)
    assert ep.aliases == ["a"] and ep.ipv4_address == "10.0.0.9" and ep.driver_opts == {"k": "v"}
    assert converters.endpoint_config_from_pb(pb.EndpointConfig()).links == []


def test_absent_is_not_empty_or_zero() -> None:
    cfg = converters.config_from_pb(_full_config())
    assert cfg.cmd == ["sh"] and cfg.entrypoint == [] and cfg.stop_timeout == 0
    bare = converters.config_from_pb(pb.ContainerConfig())
    assert bare.cmd is None and bare.entrypoint is None and bare.stop_timeout is None
    assert bare.healthcheck is None
    assert not converters.config_to_pb(bare).HasField("cmd")
    assert converters.host_config_from_pb(pb.HostConfig()).memory_swappiness is None
    assert converters.host_config_from_pb(_full_host_config()).memory_swappiness == 0


def test_records_round_trip_through_json() -> None:
    when = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    ctr = model.Container(
        id="c" * 64,
        name="web",
        created=1.5,
        image="busybox",
        image_id="sha256:x",
        config=converters.config_from_pb(_full_config()),
        host_config=converters.host_config_from_pb(_full_host_config()),
        state=model.State(
            status="running",
            health=model.Health(log=[model.HealthResult(when, when, 1, "out")]),
        ),
    )
    assert decode(encode(ctr)) == ctr


def test_container_message() -> None:
    when = datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)
    ctr = model.Container(
        id="c" * 64,
        name="web",
        created=1_700_000_000.25,
        image="busybox",
        image_id="sha256:x",
        config=model.ContainerConfig(),
        host_config=model.HostConfig(),
        state=model.State(
            status="paused",
            pid=7,
            health=model.Health(status="healthy", log=[model.HealthResult(when, when, 0, "")]),
        ),
    )
    msg = converters.container_to_pb(model.ContainerView(ctr))
    assert msg.state.running and msg.state.paused and msg.state.pid == 7
    assert msg.state.health.status == "healthy"
    assert msg.state.health.log[0].start.ToDatetime(tzinfo=UTC) == when
    # never started: no sandbox to name, as dockerd's "" (starting.py sets it)
    assert msg.network_settings.sandbox_id == ""
    assert msg.size_rw == -1 and list(msg.exec_ids) == []
    assert msg.created.seconds == 1_700_000_000
    assert not converters.container_to_pb(
        model.ContainerView(dataclasses.replace(ctr, state=model.State()))
    ).state.HasField("health")
