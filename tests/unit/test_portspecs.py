"""PortBindings as dockerd validates them (400s, its wording) and the port
requests a start sends the network service."""

from __future__ import annotations

import pytest

from hangu_container import portspecs
from hangu_container.model import ContainerConfig, HostConfig, PortBinding, PortBindings
from hangu_runtime.errors import InvalidArgument


def hc(bindings: dict[str, list[tuple[str, str]]], publish_all: bool = False) -> HostConfig:
    return HostConfig(
        port_bindings={
            k: PortBindings([PortBinding(host_ip=ip, host_port=p) for ip, p in v])
            for k, v in bindings.items()
        },
        publish_all_ports=publish_all,
    )


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"99999/tcp": []}, 'invalid port specification: "99999"'),
        ({"0/tcp": []}, 'invalid port specification: "0"'),
        ({"abc/tcp": []}, 'invalid port specification: "abc"'),
        ({"80/tcp": [("", "99999")]}, 'invalid port specification: "99999"'),
        ({"80/tcp": [("", "abc")]}, 'invalid port specification: "abc"'),
        ({"80/tcp": [("", "90-80")]}, 'invalid port specification: "90-80"'),
        ({"80/tcp": [("", "0-80")]}, 'invalid port specification: "0-80"'),
        ({"80/foo": []}, "invalid proto: foo"),
        ({"80/tcp": [("1.2.3", "8080")]}, "invalid IP address: 1.2.3"),
    ],
)
def test_invalid(bindings: dict[str, list[tuple[str, str]]], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        portspecs.validate(hc(bindings))
    assert err.value.message == message


def test_requests() -> None:
    cfg = ContainerConfig(exposed_ports=["80/tcp", "53/udp", "9000/tcp"])
    got = portspecs.requests(
        cfg,
        hc(
            {
                "80/tcp": [("127.0.0.1", "21210-21212"), ("::1", "")],
                "9000/tcp": [],
                "81/UDP": [("[::1]", "0")],
            },
            publish_all=True,
        ),
    )
    assert got == [
        ("tcp", 80, "127.0.0.1", 21210, 21212),
        ("tcp", 80, "::1", 0, 0),
        ("tcp", 9000, "", 0, 0),
        ("udp", 81, "::1", 0, 0),
        ("udp", 53, "", 0, 0),
    ]
