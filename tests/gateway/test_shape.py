"""Container and image messages shaped as Docker's JSON; create bodies into
messages."""

from google.protobuf.timestamp_pb2 import Timestamp

from hangu.container.v1 import container_pb2 as cpb
from hangu.image.v1 import image_pb2 as ipb
from hangu_gateway import container_shape, convert, image_shape
from hangu_runtime.times import query_timestamp as parse_unix
from hangu_runtime.times import rfc3339 as rfc3339nano
from hangu_runtime.units import human_duration


def _container() -> cpb.Container:
    c = cpb.Container(
        id="a" * 64,
        name="web",
        path="sh",
        args=["-c", "sleep 1"],
        image_id="sha256:" + "b" * 64,
        image="busybox",
    )
    c.created.FromSeconds(1_700_000_000)
    c.config.image = "busybox"
    c.config.tty = True
    c.config.cmd.values.extend(["sh"])
    c.config.exposed_ports.append("80/tcp")
    c.state.status = "running"
    c.state.running = True
    c.state.pid = 42
    c.state.started_at.FromSeconds(1_700_000_100)
    ep = c.network_settings.networks["bridge"]
    ep.ip_address, ep.ip_prefix_len, ep.gateway = "10.203.0.2", 24, "10.203.0.1"
    c.network_settings.ports["80/tcp"].bindings.append(
        cpb.PortBinding(host_ip="127.0.0.1", host_port="8080")
    )
    return c


def test_list_shape() -> None:
    item = container_shape.list_json(_container(), now=1_700_000_103)
    assert item["Id"] == "a" * 64
    assert item["Names"] == ["/web"]
    assert item["Image"] == "busybox"
    assert item["Command"] == "sh -c sleep 1"
    assert item["Created"] == 1_700_000_000
    assert item["State"] == "running"
    assert item["Status"] == "Up 3 seconds"
    assert item["Ports"] == [
        {"IP": "127.0.0.1", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"}
    ]
    assert item["HostConfig"] == {"NetworkMode": "bridge"}
    assert item["NetworkSettings"]["Networks"]["bridge"]["IPAddress"] == "10.203.0.2"


def test_inspect_shape() -> None:
    doc = container_shape.inspect_json(_container())
    assert doc["Name"] == "/web"
    assert doc["Created"] == "2023-11-14T22:13:20Z"
    assert doc["State"]["Running"] is True and doc["State"]["Pid"] == 42
    assert doc["State"]["FinishedAt"] == "0001-01-01T00:00:00Z"
    assert doc["Config"]["Tty"] is True and doc["Config"]["Cmd"] == ["sh"]
    assert doc["Config"]["ExposedPorts"] == {"80/tcp": {}}
    assert doc["HostConfig"]["NetworkMode"] == "bridge"
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    ns = doc["NetworkSettings"]
    assert ns["IPAddress"] == "10.203.0.2" and ns["IPPrefixLen"] == 24
    assert ns["Gateway"] == "10.203.0.1"
    assert ns["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "8080"}]
    for key in (
        "Path",
        "Args",
        "ResolvConfPath",
        "HostnamePath",
        "HostsPath",
        "LogPath",
        "RestartCount",
        "Driver",
        "Platform",
        "MountLabel",
        "ProcessLabel",
        "AppArmorProfile",
        "ExecIDs",
        "GraphDriver",
        "Mounts",
    ):
        assert key in doc


def test_status_texts() -> None:
    s = cpb.ContainerState(status="created")
    assert container_shape.status_text(s, now=10) == "Created"
    s = cpb.ContainerState(status="exited", exit_code=3)
    s.started_at.FromSeconds(100)
    s.finished_at.FromSeconds(200)
    assert container_shape.status_text(s, now=202) == "Exited (3) 2 seconds ago"
    assert human_duration(0.5) == "Less than a second"
    assert human_duration(90) == "About a minute"
    assert human_duration(3600 * 30) == "30 hours"


def test_times() -> None:
    ts = Timestamp(seconds=1_700_000_000, nanos=120_000_000)
    assert rfc3339nano(ts) == "2023-11-14T22:13:20.12Z"
    assert parse_unix("1700000000.5") == Timestamp(seconds=1_700_000_000, nanos=500_000_000)
    assert parse_unix("") is None


def test_create_body() -> None:
    body = {
        "Image": "busybox",
        "Cmd": "sh",
        "Tty": True,
        "OpenStdin": True,
        "Env": ["A=1"],
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "Entrypoint": None,
        "StopTimeout": 3,
        "HostConfig": {
            "Binds": ["v1:/data"],
            "NetworkMode": "none",
            "AutoRemove": True,
            "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
            "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 2},
            "MemorySwappiness": None,
            "BlkioDeviceReadBps": [],
            "Mounts": [{"Type": "volume", "Source": "v2", "Target": "/x"}],
        },
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {"Aliases": ["w"]}}},
    }
    req = convert.create_request("web", body)
    assert req.name == "web"
    assert list(req.config.cmd.values) == ["sh"] and req.config.HasField("cmd")
    assert not req.config.HasField("entrypoint")
    assert req.config.HasField("stop_timeout") and req.config.stop_timeout == 3
    assert list(req.config.volumes) == ["/data"]
    assert req.host_config.network_mode == "none" and req.host_config.auto_remove
    assert req.host_config.port_bindings["80/tcp"].bindings[0].host_port == "8080"
    assert req.host_config.restart_policy.maximum_retry_count == 2
    assert req.host_config.mounts[0].source == "v2"
    assert list(req.networking_config.endpoints_config["bridge"].aliases) == ["w"]


def test_create_refuses_unsupported() -> None:
    import pytest

    from hangu_gateway.errors import ApiError

    with pytest.raises(ApiError) as err:
        convert.create_request(
            "",
            {"Image": "x", "HostConfig": {"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": 1}]}},
        )
    assert err.value.status == 400


def test_image_shapes() -> None:
    img = ipb.Image(
        id="sha256:" + "c" * 64,
        repo_tags=["busybox:latest"],
        size=1234,
        architecture="amd64",
        os="linux",
        layers=["sha256:" + "d" * 64],
        config_json=b'{"config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]}}',
    )
    img.created.FromSeconds(1_700_000_000)
    item = image_shape.list_json(img)
    assert item["RepoTags"] == ["busybox:latest"] and item["Created"] == 1_700_000_000
    assert "VirtualSize" not in item
    assert "VirtualSize" in image_shape.list_json(img, "1.43")
    doc = image_shape.inspect_json(img)
    assert doc["Config"]["Cmd"] == ["sh"]
    assert doc["RootFS"] == {"Type": "layers", "Layers": ["sha256:" + "d" * 64]}
    assert doc["Created"] == "2023-11-14T22:13:20Z"
    assert "ContainerConfig" not in doc
    assert "ContainerConfig" in image_shape.inspect_json(img, "1.44")
