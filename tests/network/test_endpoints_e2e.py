"""Docker's endpoint model through the whole stack, driven by the real docker
CLI, docker-py and docker-compose 1.29: attachments recorded from `create`
on, `network connect`/`disconnect` on created and running containers (a new
ethN hot-plugged and removed), the `none` and `container:` modes, the 31
default address pools, and a compose project on a custom network.

Stack: bridge hgp<rand>, table hgp_<rand>, pool 10.215.0.0/16 in /24s, root
/tmp/hgt-ept-*; explicit subnets in 10.216.0.0/16; compose publishes on
127.0.0.1:21500-21599."""

from __future__ import annotations

import ipaddress
import json
import secrets
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.compose import Compose
from tests.support.dockercli import ok
from tests.support.stack import Stack, inspect, module_stack, unique, wait_for

pytestmark = [pytest.mark.root, pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from module_stack("ept", bridge_prefix="hgp", subnet_pool="10.215.0.0/16:24")


def addresses(stack: Stack, container: str) -> dict[str, str]:
    """Interface name -> IPv4 CIDR inside a running container, but lo."""
    out = ok(stack.run_docker("exec", container, "ip", "-o", "-4", "addr", "show"))
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if parts[1] != "lo":
            found[parts[1]] = parts[3]
    return found


@pytest.fixture()
def network(stack: Stack) -> Iterator[str]:
    name = unique("hgp-net")
    third = secrets.randbelow(250) + 1
    ok(stack.run_docker("network", "create", "--subnet", f"10.216.{third}.0/24", name))
    yield name
    stack.run_docker("network", "rm", name)


def test_attachment_recorded_from_create(stack: Stack, busybox: str, network: str) -> None:
    name = unique("ep")
    try:
        ok(
            stack.run_docker(
                "create",
                "--name",
                name,
                "--network",
                network,
                "--network-alias",
                "svc",
                busybox,
                "sleep",
                "300",
            )
        )
        created = inspect(stack, name)
        entry = created["NetworkSettings"]["Networks"][network]
        assert entry["IPAddress"] == "" and entry["EndpointID"] == ""
        assert "svc" in entry["Aliases"]
        assert entry["NetworkID"] == inspect(stack, network)["Id"]
        assert created["HostConfig"]["NetworkMode"] == network
        listed = json.loads(ok(stack.run_docker("network", "inspect", network)))[0]
        assert listed["Containers"] == {}

        ok(stack.run_docker("start", name))
        running = inspect(stack, name)["NetworkSettings"]["Networks"][network]
        subnet = ipaddress.ip_network(inspect(stack, network)["IPAM"]["Config"][0]["Subnet"])
        assert ipaddress.ip_address(running["IPAddress"]) in subnet
        assert running["IPPrefixLen"] == 24 and running["Gateway"] == str(subnet[1])
        assert running["EndpointID"] and running["MacAddress"]
        assert addresses(stack, name)["eth0"] == f"{running['IPAddress']}/24"
        listed = json.loads(ok(stack.run_docker("network", "inspect", network)))[0]
        assert [c["Name"] for c in listed["Containers"].values()] == [name]

        ok(stack.run_docker("stop", "-t", "0", name))
        stopped = inspect(stack, name)["NetworkSettings"]["Networks"]
        assert list(stopped) == [network] and stopped[network]["IPAddress"] == ""
        assert "svc" in stopped[network]["Aliases"]
        # Only running containers hold endpoints: as with dockerd the network
        # can go, and the container's next start names what is missing.
        ok(stack.run_docker("network", "rm", network))
        start = stack.run_docker("start", name)
        assert start.returncode != 0 and f"network {network} not found" in start.stderr
    finally:
        stack.run_docker("rm", "-f", name)


def test_connect_and_disconnect_created_then_running(
    stack: Stack, busybox: str, network: str
) -> None:
    name = unique("ep")
    subnet = ipaddress.ip_network(
        json.loads(ok(stack.run_docker("network", "inspect", network)))[0]["IPAM"]["Config"][0][
            "Subnet"
        ]
    )
    fixed = str(subnet[50])
    try:
        ok(stack.run_docker("create", "--name", name, busybox, "sleep", "300"))
        # Recorded on the created container, applied at start.
        ok(stack.run_docker("network", "connect", "--ip", fixed, "--alias", "x", network, name))
        nets = inspect(stack, name)["NetworkSettings"]["Networks"]
        assert set(nets) == {"bridge", network}
        assert nets[network]["IPAMConfig"]["IPv4Address"] == fixed
        ok(stack.run_docker("start", name))
        assert addresses(stack, name)["eth1"] == f"{fixed}/24"
        assert inspect(stack, name)["NetworkSettings"]["Networks"][network]["IPAddress"] == fixed

        # Hot-unplugged from the running container.
        ok(stack.run_docker("network", "disconnect", network, name))
        assert "eth1" not in addresses(stack, name)
        assert set(inspect(stack, name)["NetworkSettings"]["Networks"]) == {"bridge"}
        # And plugged in again: a new interface, the asked-for address again.
        ok(stack.run_docker("network", "connect", "--ip", fixed, network, name))
        assert fixed + "/24" in addresses(stack, name).values()
        again = stack.run_docker("network", "connect", network, name)
        assert again.returncode != 0 and "already exists in network" in again.stderr

        # The default bridge takes no fixed address (Docker's rule).
        ok(stack.run_docker("network", "disconnect", "bridge", name))
        on_bridge = stack.run_docker("network", "connect", "--ip", "10.215.0.77", "bridge", name)
        assert on_bridge.returncode != 0
        assert "user specified IP address is supported on user defined networks only" in (
            on_bridge.stderr
        )

        # A restart brings back every attachment, with the same fixed address.
        ok(stack.run_docker("restart", "-t", "0", name))
        assert set(inspect(stack, name)["NetworkSettings"]["Networks"]) == {network}
        assert list(addresses(stack, name).values()) == [f"{fixed}/24"]
    finally:
        stack.run_docker("rm", "-f", name)


def test_none_mode(stack: Stack, busybox: str) -> None:
    name = unique("none")
    try:
        ok(stack.run_docker("create", "--name", name, "--network", "none", busybox, "ip", "link"))
        doc = inspect(stack, name)
        assert doc["HostConfig"]["NetworkMode"] == "none"
        assert list(doc["NetworkSettings"]["Networks"]) == ["none"]
        out = ok(stack.run_docker("start", "-a", name))
        links = [line for line in out.splitlines() if line[:1].isdigit()]
        assert len(links) == 1 and ": lo:" in links[0]
        refused = stack.run_docker("network", "connect", "bridge", name)
        assert refused.returncode != 0
    finally:
        stack.run_docker("rm", "-f", name)


def test_container_mode_shares_and_needs_a_running_peer(stack: Stack, busybox: str) -> None:
    peer = unique("peer")
    try:
        ok(stack.run_docker("create", "--name", peer, busybox, "sleep", "300"))
        joined = stack.run_docker("run", "--rm", "--network", f"container:{peer}", busybox, "true")
        assert joined.returncode != 0 and "non running container" in joined.stderr
        ok(stack.run_docker("start", peer))
        peer_ip = inspect(stack, peer)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        out = ok(
            stack.run_docker(
                "run", "--rm", "--network", f"container:{peer}", busybox, "ip", "-o", "-4", "addr"
            )
        )
        assert f"{peer_ip}/" in out
    finally:
        stack.run_docker("rm", "-f", peer)


def test_many_networks_get_distinct_pool_subnets(stack: Stack) -> None:
    # More than the old five: the stack's pool is 10.215.0.0/16 in /24s, so
    # each network takes the next free /24 and none overlaps another.
    names = [unique("hgp-many") for _ in range(35)]
    try:
        subnets = set()
        for name in names:
            ok(stack.run_docker("network", "create", name))
            doc = json.loads(ok(stack.run_docker("network", "inspect", name)))[0]
            subnets.add(doc["IPAM"]["Config"][0]["Subnet"])
        assert len(subnets) == len(names)
        nets = [ipaddress.ip_network(s) for s in subnets]
        assert all(n.subnet_of(ipaddress.ip_network("10.215.0.0/16")) for n in nets)
    finally:
        for name in names:
            stack.run_docker("network", "rm", name)


def test_docker_py_network_api(stack: Stack, busybox: str) -> None:
    import docker

    client = stack.docker_client()
    ipam = docker.types.IPAMConfig(
        pool_configs=[docker.types.IPAMPool(subnet="10.216.251.0/24", gateway="10.216.251.254")]
    )
    net = client.networks.create(unique("hgp-py"), driver="bridge", ipam=ipam, labels={"t": "1"})
    container = None
    try:
        assert net.attrs["IPAM"]["Config"][0]["Gateway"] == "10.216.251.254"
        container = client.containers.run(busybox, ["sleep", "300"], detach=True)
        net.connect(container, aliases=["pyalias"], ipv4_address="10.216.251.9")
        container.reload()
        entry = container.attrs["NetworkSettings"]["Networks"][net.name]
        assert entry["IPAddress"] == "10.216.251.9" and "pyalias" in entry["Aliases"]
        assert entry["Gateway"] == "10.216.251.254"
        net.reload()
        assert [c.id for c in net.containers] == [container.id]
        net.disconnect(container, force=True)
        container.reload()
        assert net.name not in container.attrs["NetworkSettings"]["Networks"]
        with pytest.raises(docker.errors.APIError) as bad:
            client.networks.create(
                unique("hgp-py"),
                ipam=docker.types.IPAMConfig(
                    pool_configs=[
                        docker.types.IPAMPool(subnet="10.216.252.0/24", gateway="1.2.3.4")
                    ]
                ),
            )
        assert bad.value.status_code == 400
    finally:
        if container is not None:
            container.remove(force=True)
        net.remove()
    pruned_name = unique("hgp-prune")
    client.networks.create(pruned_name, labels={"hgp-prune": "yes"})
    pruned = client.networks.prune(filters={"label": "hgp-prune=yes"})
    assert pruned["NetworksDeleted"] == [pruned_name]


COMPOSE_FILE = """\
version: "3.7"
services:
  web:
    image: {image}
    command: ["httpd", "-f", "-p", "80", "-h", "/etc"]
    networks:
      front:
        aliases: [www]
    ports: ["127.0.0.1:{port}:80"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  client:
    image: {image}
    command: ["sleep", "300"]
    networks: [front]
    depends_on: [web]
networks:
  front:
    ipam:
      config:
        - subnet: 10.216.253.0/24
volumes:
  data: {{}}
"""


def test_compose_project_on_a_custom_network(stack: Stack, busybox: str, tmp_path: Path) -> None:
    port = 21500 + secrets.randbelow(100)
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_FILE.format(image=busybox, port=port))
    project = unique("hgpc").replace("-", "")

    compose = Compose(stack, project, tmp_path, timeout=180)
    try:
        ok(compose("up", "-d", "--scale", "client=2"))
        clients = ok(compose("ps", "-q", "client")).split()
        assert len(clients) == 2
        web = ok(compose("ps", "-q", "web")).strip()
        # The service name, the alias and the container name all resolve
        # from every replica.
        web_name = inspect(stack, web)["Name"].lstrip("/")
        for target in ("web", "www", web_name):
            for cid in clients:
                fetched = wait_for(
                    lambda cid=cid, target=target: (
                        stack.run_docker(
                            "exec",
                            cid,
                            "timeout",
                            "5",
                            "wget",
                            "-q",
                            "-O-",
                            f"http://{target}/passwd",
                        ).stdout
                    )
                )
                assert "root:" in fetched, (target, cid)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        body = wait_for(lambda: _fetch(opener, f"http://127.0.0.1:{port}/passwd"))
        assert b"root:" in body
        health = wait_for(
            lambda: inspect(stack, web)["State"].get("Health", {}).get("Status") == "healthy", 20
        )
        assert health
        front = f"{project}_front"
        doc = json.loads(ok(stack.run_docker("network", "inspect", front)))[0]
        assert doc["IPAM"]["Config"][0]["Subnet"] == "10.216.253.0/24"
        assert doc["Labels"]["com.docker.compose.project"] == project
        assert len(doc["Containers"]) == 3
    finally:
        down = compose("down", "-v")
    ok(down)
    gone = stack.run_docker("network", "inspect", f"{project}_front")
    assert gone.returncode != 0
    assert (
        ok(stack.run_docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}"))
        == ""
    )


def _fetch(opener: urllib.request.OpenerDirector, url: str) -> bytes:
    try:
        return bytes(opener.open(url, timeout=2).read())
    except OSError:
        return b""


def test_create_names_what_does_not_exist_yet(stack: Stack, busybox: str) -> None:
    """As dockerd: a network or a `container:` peer that does not exist is
    no reason to refuse a create (a 404 there would make the CLI pull the
    image); the start fails with Docker's message, and succeeds once the
    network exists."""
    net, peer, a, b = unique("hgp-later"), unique("later"), unique("lt"), unique("lt")
    try:
        ok(stack.run_docker("create", "--name", a, "--network", net, busybox, "sleep", "300"))
        entry = inspect(stack, a)["NetworkSettings"]["Networks"][net]
        assert entry["NetworkID"] == "" and entry["IPAddress"] == ""
        started = stack.run_docker("start", a)
        assert started.returncode != 0
        assert f"network {net} not found" in started.stderr
        assert "Unable to find image" not in started.stderr
        run = stack.run_docker("run", "--rm", "--network", net, busybox, "true")
        assert "Unable to find image" not in run.stderr and f"network {net} not found" in run.stderr

        ok(stack.run_docker("network", "create", net))
        ok(stack.run_docker("start", a))
        entry = inspect(stack, a)["NetworkSettings"]["Networks"][net]
        assert entry["NetworkID"] == inspect(stack, net)["Id"] and entry["IPAddress"]

        ok(
            stack.run_docker(
                "create", "--name", b, "--network", f"container:{peer}", busybox, "true"
            )
        )
        missing = stack.run_docker("start", b)
        assert missing.returncode != 0 and f"No such container: {peer}" in missing.stderr
        ok(stack.run_docker("run", "-d", "--name", peer, busybox, "sleep", "300"))
        ok(stack.run_docker("start", b))
    finally:
        for name in (a, b, peer):
            stack.run_docker("rm", "-f", name)
        stack.run_docker("network", "rm", net)


def test_create_refuses_what_a_shared_namespace_cannot_have(stack: Stack, busybox: str) -> None:
    """dockerd's conflicts for `--network container:X` (and a MAC address
    in host mode), each a 400 that creates nothing; a legacy link to a
    container that does not exist is refused on the default bridge."""
    peer = unique("peer")
    ok(stack.run_docker("run", "-d", "--name", peer, busybox, "sleep", "300"))
    mode = ["--network", f"container:{peer}"]
    cases = {
        "hostname and the network mode": [*mode, "--hostname", "x"],
        "port publishing and the container type network mode": [*mode, "-p", "127.0.0.1::80"],
        "dns and the network mode": [*mode, "--dns", "10.216.0.53"],
        "custom host-to-IP mapping": [*mode, "--add-host", "a:10.216.0.7"],
        "port exposing and the container type network mode": [*mode, "--expose", "80"],
        "container type network can't be used with links": [*mode, "--link", peer],
    }
    try:
        before = set(ok(stack.run_docker("ps", "-aq", "--no-trunc")).split())
        for message, args in cases.items():
            done = stack.run_docker("create", *args, busybox, "true")
            assert done.returncode != 0 and f"conflicting options: {message}" in done.stderr, (
                message,
                done.stderr,
            )
        link = stack.run_docker("create", "--link", "nosuch:x", busybox, "true")
        assert "could not get container for nosuch: No such container: nosuch" in link.stderr
        assert set(ok(stack.run_docker("ps", "-aq", "--no-trunc")).split()) == before
    finally:
        stack.run_docker("rm", "-f", peer)


def test_host_mode_warns_that_published_ports_are_discarded(stack: Stack, busybox: str) -> None:
    """dockerd accepts `-p` with `--network host` and says it is ignored;
    `docker ps` lists no ports for a container that does not run."""
    name = unique("hostp")
    try:
        done = stack.run_docker(
            "create", "--name", name, "--network", "host", "-p", "127.0.0.1:21590:80", busybox
        )
        assert done.returncode == 0, done.stderr
        assert "Published ports are discarded when using host network mode" in done.stderr
        listed = ok(
            stack.run_docker("ps", "-a", "--filter", f"name={name}", "--format", "{{.Ports}}")
        )
        assert listed.strip() == ""
    finally:
        stack.run_docker("rm", "-f", name)


def test_failed_start_of_a_rm_container_is_reported_once(stack: Stack, busybox: str) -> None:
    """`docker run --rm` whose start fails (its host port is taken): the
    CLI prints the start error only, as with dockerd, whose wait for the
    removal carries no error; nothing is left behind."""
    holder = socket.socket()
    holder.bind(("127.0.0.1", 21591))
    holder.listen()
    try:
        before = set(ok(stack.run_docker("ps", "-aq")).split())
        done = stack.run_docker("run", "--rm", "-p", "127.0.0.1:21591:80", busybox, "true")
        assert done.returncode == 125 and "address already in use" in done.stderr
        assert "Error waiting for container" not in done.stderr, done.stderr
        assert wait_for(lambda: set(ok(stack.run_docker("ps", "-aq")).split()) == before)
    finally:
        holder.close()


def test_host_mode_connect_refusals(stack: Stack, busybox: str, network: str) -> None:
    """dockerd's words: a container on the host's namespace cannot join a
    network, and the host network cannot be joined by one with its own."""
    on_host, bridged = unique("onhost"), unique("bridged")
    try:
        ok(stack.run_docker("create", "--name", on_host, "--network", "host", busybox, "true"))
        ok(stack.run_docker("create", "--name", bridged, busybox, "true"))
        done = stack.run_docker("network", "connect", network, on_host)
        assert done.returncode != 0
        assert "container sharing network namespace with another container or host" in done.stderr
        done = stack.run_docker("network", "connect", "host", bridged)
        assert done.returncode != 0
        assert (
            "container cannot be disconnected from host network or connected to host network"
            in (done.stderr)
        )
    finally:
        stack.run_docker("rm", "-f", on_host, bridged)
