"""Legacy link variables (moby daemon/links/links.go) and the host-mode
checks of create, table-driven against dockerd's answers."""

from __future__ import annotations

import pytest

from hangu_container import hostmodes, links
from hangu_container.model import HostConfig, LogConfig
from hangu_runtime.errors import InvalidArgument


def test_link_env_ports_tcp_first_ranges_and_env() -> None:
    env = links.link_env(
        "/me/my-db", "10.0.0.2", ["PATH=/bin", "HOME=/root", "X=1", "BAD"],
        ["53/udp", "81/tcp", "80/tcp", "82/tcp"],
    )  # fmt: skip
    assert env[0] == "MY_DB_PORT=tcp://10.0.0.2:80"
    assert "MY_DB_PORT_80_TCP_START=tcp://10.0.0.2:80" in env
    assert "MY_DB_PORT_80_TCP_PORT_START=80" in env
    assert "MY_DB_PORT_80_TCP_END=tcp://10.0.0.2:82" in env
    assert "MY_DB_PORT_80_TCP_PORT_END=82" in env
    assert "MY_DB_PORT_53_UDP=udp://10.0.0.2:53" in env
    assert not any(v.startswith("MY_DB_PORT_53_UDP_START") for v in env)
    assert env[-2:] == ["MY_DB_NAME=/me/my-db", "MY_DB_ENV_X=1"]


def test_link_env_without_ports() -> None:
    assert links.link_env("/a/b", "1.2.3.4", [], []) == ["B_NAME=/a/b"]


@pytest.mark.parametrize(
    ("link", "want"),
    [("db", ("db", "db")), ("db:al", ("db", "al")), ("/db:/me/al", ("db", "al"))],
)
def test_split(link: str, want: tuple[str, str]) -> None:
    assert links.split(link) == want


@pytest.mark.parametrize(
    ("hc", "message"),
    [
        (HostConfig(runtime="xx"), "unknown or invalid runtime name: xx"),
        (
            HostConfig(log_config=LogConfig(type="syslogx")),
            "logger: no log driver named 'syslogx' is registered",
        ),
        (HostConfig(ipc_mode="bogus"), "invalid IPC mode: bogus"),
        (HostConfig(ipc_mode="container:"), "invalid IPC mode: container:"),
        (HostConfig(pid_mode="private"), "invalid PID mode: private"),
        (HostConfig(uts_mode="private"), "invalid UTS mode: private"),
        (HostConfig(pid_mode="container:gone"), "No such container: gone"),
        (HostConfig(ipc_mode="container:gone"), "No such container: gone"),
    ],
)
def test_check_refuses(hc: HostConfig, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        hostmodes.check(hc, lambda ref: ref == "here")
    assert info.value.message == message


def test_check_defaults() -> None:
    hc = hostmodes.check(HostConfig(pid_mode="container:here"), lambda ref: ref == "here")
    assert (hc.runtime, hc.ipc_mode, hc.pid_mode) == ("runc", "private", "container:here")
    for mode in ("host", "none", "shareable", "private", "container:here"):
        assert hostmodes.check(HostConfig(ipc_mode=mode), lambda ref: True).ipc_mode == mode
