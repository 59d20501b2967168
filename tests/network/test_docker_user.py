"""On a host where a dockerd runs or has run (br_netfilter loaded, iptables
FORWARD policy DROP), containers on one hangu bridge still reach each other
thanks to hangu's accept rules in DOCKER-USER, and only thanks to them."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hangu.network.v1 import network_pb2 as pb
from hangu_network import dockeruser

from .conftest import NetEnv, ping

pytestmark = pytest.mark.root

BR_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def _forward_policy() -> str:
    out = subprocess.run(
        ["iptables", "-w", "5", "-S", "FORWARD"], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()[0].split()[2]


@pytest.fixture
def dockerd_like_host() -> Iterator[None]:
    """FORWARD policy DROP and br_netfilter on, as dockerd leaves them;
    restored exactly afterwards."""
    if not BR_NF.exists():
        subprocess.run(["modprobe", "br_netfilter"], check=False)
    if not BR_NF.exists():
        pytest.skip("br_netfilter is not available")
    policy, br_nf = _forward_policy(), BR_NF.read_text()
    BR_NF.write_text("1")
    subprocess.run(["iptables", "-w", "5", "-P", "FORWARD", "DROP"], check=True)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-w", "5", "-P", "FORWARD", policy], check=True)
        BR_NF.write_text(br_nf)


def test_bridge_traffic_passes_forward_drop(net_env: NetEnv, dockerd_like_host: None) -> None:
    bridge = net_env.settings.bridge
    assert dockeruser.present(bridge)
    a, b = secrets.token_hex(32), secrets.token_hex(32)
    sa = net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=a))
    sb = net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=b))
    ip_b = sb.endpoints[0].ipv4_address
    try:
        assert ping(sa.netns_path, ip_b)
        # Without hangu's rules the DROP policy wins: the rules are what works.
        dockeruser.remove(bridge)
        try:
            assert not ping(sa.netns_path, ip_b)
        finally:
            dockeruser.add(bridge)
        assert ping(sa.netns_path, ip_b)
        rules = subprocess.run(
            ["iptables", "-w", "5", "-S", "DOCKER-USER"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        assert f"-A DOCKER-USER -i {bridge} -j ACCEPT" in rules
        assert f"-A DOCKER-USER -o {bridge} -j ACCEPT" in rules
        assert (
            "-A FORWARD -j DOCKER-USER"
            in subprocess.run(
                ["iptables", "-w", "5", "-S", "FORWARD"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
        )
    finally:
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=a))
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=b))
