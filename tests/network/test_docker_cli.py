"""The network and volume services through the whole stack, driven by the
real docker CLI: user networks with container DNS, published ports on
127.0.0.1, Docker's errors. Stack: bridge hgn<rand>, table hgn_<rand>,
pool 10.201.0.0/16 in /24s, root /tmp/hgt-net-*."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support.dockercli import ok, requires_docker_cli
from tests.support.stack import Stack, module_stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from module_stack("net", bridge_prefix="hgn", subnet_pool="10.201.0.0/16:24")


def test_network_ls_and_inspect_bridge(stack: Stack) -> None:
    rows = ok(stack.run_docker("network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"))
    assert {"bridge bridge local", "host host local", "none null local"} <= set(rows.splitlines())
    doc = json.loads(ok(stack.run_docker("network", "inspect", "bridge")))[0]
    assert doc["Options"]["com.docker.network.bridge.name"] == stack.bridge
    assert doc["IPAM"]["Config"][0]["Subnet"].startswith("10.201.")


# The CLI's own "Error: No such ..." until 23.0, the daemon's message since
# (moby 45067cda, "client: remove wrapResponseError()").
@requires_docker_cli("23.0")
def test_user_network_dns_and_errors(stack: Stack, busybox: str) -> None:
    net = "hgnet-" + secrets.token_hex(3)
    ok(stack.run_docker("network", "create", net))
    dup = stack.run_docker("network", "create", net)
    assert dup.returncode != 0 and f"network with name {net} already exists" in dup.stderr
    web = "web-" + secrets.token_hex(3)
    try:
        ok(
            stack.run_docker(
                "run",
                "-d",
                "--name",
                web,
                "--network",
                net,
                busybox,
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                "/etc",
            )
        )
        out = ""
        for _ in range(30):
            res = stack.run_docker(
                "run",
                "--rm",
                "--network",
                net,
                busybox,
                "wget",
                "-q",
                "-O-",
                f"http://{web}/passwd",
            )
            out = res.stdout
            if "root:" in out:
                break
            time.sleep(0.2)
        assert "root:" in out
        busy = stack.run_docker("network", "rm", net)
        assert busy.returncode != 0 and "has active endpoints" in busy.stderr
        doc = json.loads(ok(stack.run_docker("network", "inspect", net)))[0]
        assert [c["Name"] for c in doc["Containers"].values()] == [web]
    finally:
        stack.run_docker("rm", "-f", web)
    ok(stack.run_docker("network", "rm", net))
    gone = stack.run_docker("network", "inspect", net)
    assert gone.returncode != 0 and f"network {net} not found" in gone.stderr
    pre = stack.run_docker("network", "rm", "bridge")
    assert pre.returncode != 0 and "pre-defined network and cannot be removed" in pre.stderr


def test_published_port_on_localhost(stack: Stack, busybox: str) -> None:
    name = "pub-" + secrets.token_hex(3)
    try:
        ok(
            stack.run_docker(
                "run",
                "-d",
                "--name",
                name,
                "-p",
                "127.0.0.1::80",
                busybox,
                "httpd",
                "-f",
                "-p",
                "80",
                "-h",
                "/etc",
            )
        )
        port = ok(stack.run_docker("port", name, "80")).split()[0]
        assert port.startswith("127.0.0.1:")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        body = b""
        for _ in range(30):
            try:
                body = opener.open(f"http://{port}/passwd", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        assert b"root:" in body
    finally:
        stack.run_docker("rm", "-f", name)


# The CLI's own "Error: No such ..." until 23.0, the daemon's message since
# (moby 45067cda, "client: remove wrapResponseError()").
@requires_docker_cli("23.0")
def test_volume_errors(stack: Stack) -> None:
    bad = stack.run_docker("volume", "create", "a/b")
    assert bad.returncode != 0 and "includes invalid characters" in bad.stderr
    missing = stack.run_docker("volume", "inspect", "hgn-nosuch")
    assert missing.returncode != 0 and "no such volume" in missing.stderr
