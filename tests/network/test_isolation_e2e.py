"""Docker's network isolation through the whole stack, driven by the real
docker CLI (and docker-py for events): user networks that cannot reach each
other, `--internal` networks with no way out, `enable_icc=false`, source NAT
(masquerade) of traffic leaving a bridge and its `enable_ip_masquerade=false`
opt-out, all of it again beside a real dockerd (its iptables rules in place,
br_netfilter loaded), network events, and `docker rename` as seen by the
embedded DNS.

Stack: bridge hgy<rand>, table hgy_<rand>, pool 10.217.0.0/16 in /24s, root
/tmp/hgt-iso-*; the "outside" world is a test-made namespace hgyx<rand>
joined to the host by a veth pair in 10.218.250.0/30; published ports on
127.0.0.1:21600-21699."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.dockerd import Dockerd, running_dockerd
from tests.support.dockercli import DOCKER, ok
from tests.support.stack import Stack, inspect, module_stack, unique, wait_for

pytestmark = [pytest.mark.root, pytest.mark.e2e]

ICC_OFF = "com.docker.network.bridge.enable_icc=false"
MASQ_OFF = "com.docker.network.bridge.enable_ip_masquerade=false"
HOST_SIDE, OUTSIDE = "10.218.250.1", "10.218.250.2"
LISTEN_PORT = 21680  # inside the outside namespace only


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from module_stack("iso", bridge_prefix="hgy", subnet_pool="10.217.0.0/16:24")


def ip_of(stack: Stack, container: str, network: str) -> str:
    return str(inspect(stack, container)["NetworkSettings"]["Networks"][network]["IPAddress"])


def gateway_of(stack: Stack, network: str) -> str:
    doc = json.loads(ok(stack.run_docker("network", "inspect", network)))[0]
    return str(doc["IPAM"]["Config"][0]["Gateway"])


def subnet_of(stack: Stack, network: str) -> str:
    doc = json.loads(ok(stack.run_docker("network", "inspect", network)))[0]
    return str(doc["IPAM"]["Config"][0]["Subnet"])


def pings(stack: Stack, container: str, target: str) -> bool:
    """One ping from inside the container (busybox, 1 s timeout)."""
    done = stack.run_docker("exec", container, "ping", "-c1", "-W1", target, timeout=30)
    return done.returncode == 0


def reaches(stack: Stack, container: str, target: str) -> bool:
    """Reachable, allowing a few seconds for a first ARP or DNS answer."""
    return bool(wait_for(lambda: pings(stack, container, target)))


def resolves(stack: Stack, container: str, name: str) -> str:
    """The address the embedded DNS gives for `name` ("" when it gives none).
    busybox prints the server first, then `Name:` and the answer's `Address:`."""
    done = stack.run_docker("exec", container, "timeout", "5", "nslookup", name, timeout=30)
    out: str = done.stdout if done.returncode == 0 else ""
    _, named, answer = out.partition(f"Name:\t{name}\n")
    addresses = [line.split()[-1] for line in answer.splitlines() if line.startswith("Address:")]
    return addresses[0] if named and addresses else ""


@pytest.fixture()
def networks(stack: Stack) -> Iterator[Callable[..., str]]:
    """`make(*create_args)`: a new hangu network, removed afterwards."""
    made: list[str] = []

    def make(*args: str) -> str:
        name = unique("hgy-net")
        ok(stack.run_docker("network", "create", *args, name))
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in reversed(made):
            stack.run_docker("network", "rm", name)


@pytest.fixture()
def containers(stack: Stack, busybox: str) -> Iterator[Callable[..., str]]:
    """`run(network, *run_args, cmd=[...])`: a running busybox container on
    that network (sleeping unless told otherwise), removed afterwards.

    Its upstream DNS server is 127.0.0.1 (where nothing answers): names the
    embedded DNS does not know (the negative lookups below) are forwarded to
    the host's loopback, never to the host's real nameservers."""
    made: list[str] = []

    def run(network: str, *args: str, cmd: tuple[str, ...] = ("sleep", "300")) -> str:
        name = unique("iso")
        made.append(name)
        ok(
            stack.run_docker(
                "run",
                "-d",
                "--name",
                name,
                "--network",
                network,
                "--dns",
                "127.0.0.1",
                *args,
                busybox,
                *cmd,
            )
        )
        return name

    try:
        yield run
    finally:
        if made:
            stack.run_docker("rm", "-f", *made)


# -- the "outside": a namespace the host routes to ------------------------------


LISTENER = """\
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
print("ready", flush=True)
while True:
    conn, peer = s.accept()
    conn.sendall((peer[0] + "\\n").encode())
    conn.close()
"""


@dataclass
class Outside:
    netns: str
    host_if: str

    def route_back(self, subnet: str) -> None:
        """Replies to un-NATed container addresses go back through the host."""
        sh("ip", "-n", self.netns, "route", "add", subnet, "via", HOST_SIDE)


def sh(*cmd: str) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 0, f"{cmd}: {done.stderr}"
    return done.stdout


@pytest.fixture()
def outside() -> Iterator[Outside]:
    """Namespace hgyx<rand> at 10.218.250.2, the host at .1 on a veth pair,
    running a TCP listener that answers each connection with the source
    address it saw."""
    suffix = secrets.token_hex(3)
    netns, host_if, peer_if = f"hgyx{suffix}", f"hgyx{suffix}h", f"hgyx{suffix}n"
    listener: subprocess.Popen[str] | None = None
    try:
        sh("ip", "netns", "add", netns)
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", peer_if, "netns", netns)
        sh("ip", "addr", "add", f"{HOST_SIDE}/30", "dev", host_if)
        sh("ip", "link", "set", host_if, "up")
        sh("ip", "-n", netns, "addr", "add", f"{OUTSIDE}/30", "dev", peer_if)
        sh("ip", "-n", netns, "link", "set", peer_if, "up")
        sh("ip", "-n", netns, "link", "set", "lo", "up")
        listener = subprocess.Popen(
            ["ip", "netns", "exec", netns, sys.executable, "-c", LISTENER, str(LISTEN_PORT)],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert listener.stdout is not None and listener.stdout.readline() == "ready\n"
        yield Outside(netns, host_if)
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def seen_from_outside(stack: Stack, container: str) -> str:
    """The source address the outside listener saw ("" if no connection)."""
    done = stack.run_docker(
        "exec", container, "timeout", "5", "nc", OUTSIDE, str(LISTEN_PORT), timeout=30
    )
    return done.stdout.strip() if done.returncode == 0 else ""


# -- 1. user networks ----------------------------------------------------------------


def test_user_networks_are_isolated_from_each_other(
    stack: Stack, networks: Callable[..., str], containers: Callable[..., str]
) -> None:
    """Docker drops forwarding between two bridge networks (its
    DOCKER-ISOLATION chains), both ways; on one network, peers reach each
    other by address and by container name through the embedded DNS."""
    net_a, net_b = networks(), networks()
    a1, a2 = containers(net_a), containers(net_a)
    b1, b2 = containers(net_b), containers(net_b)
    a1_ip, b1_ip = ip_of(stack, a1, net_a), ip_of(stack, b1, net_b)

    assert reaches(stack, a2, a1) and reaches(stack, a2, a1_ip)
    assert reaches(stack, b2, b1) and reaches(stack, b2, b1_ip)
    assert not pings(stack, a1, b1_ip)
    assert not pings(stack, b1, a1_ip)
    # Names are per network: the other network's container is not known.
    assert resolves(stack, a1, b1) == ""


# -- 2. --internal ---------------------------------------------------------------------


def test_internal_network_has_no_way_out(
    stack: Stack, networks: Callable[..., str], containers: Callable[..., str]
) -> None:
    """A container of an `--internal` network gets no default route (Docker
    25 on, moby#46603; 20.10 still set one): another network's gateway, an
    address of the host that a container of a normal network reaches
    through its default route, is unreachable, while peers on the internal
    network still reach each other by name."""
    internal, normal = networks("--internal"), networks()
    i1, i2 = containers(internal), containers(internal)
    n1 = containers(normal)
    other_gateway = gateway_of(stack, normal)
    target = gateway_of(stack, networks())  # a third network: n1's is local to it

    assert reaches(stack, n1, target)
    assert reaches(stack, i2, i1) and reaches(stack, i1, i2)
    assert not pings(stack, i1, target)
    assert not pings(stack, i1, other_gateway)
    routes = ok(stack.run_docker("exec", i1, "ip", "-4", "route"))
    assert "default" not in routes, routes


# -- 3. enable_icc=false -------------------------------------------------------------


def test_icc_false_isolates_containers_but_not_the_gateway(
    stack: Stack, networks: Callable[..., str], containers: Callable[..., str]
) -> None:
    """With `enable_icc=false` Docker drops traffic between containers of the
    network; each still reaches the gateway (the host) and so the embedded
    DNS, which still answers with the peer's address."""
    net = networks("--opt", ICC_OFF)
    c1, c2 = containers(net), containers(net)
    gateway = gateway_of(stack, net)
    c1_ip, c2_ip = ip_of(stack, c1, net), ip_of(stack, c2, net)

    assert reaches(stack, c1, gateway) and reaches(stack, c2, gateway)
    assert resolves(stack, c1, c2) == c2_ip
    assert resolves(stack, c2, c1) == c1_ip
    assert not pings(stack, c1, c2_ip)
    assert not pings(stack, c2, c1_ip)
    assert not pings(stack, c1, c2)


# -- 4. masquerade ----------------------------------------------------------------------


def check_masquerade(
    stack: Stack,
    outside: Outside,
    networks: Callable[..., str],
    containers: Callable[..., str],
) -> None:
    normal = networks()
    assert seen_from_outside(stack, containers(normal)) == HOST_SIDE

    internal = networks("--internal")
    walled = containers(internal)
    assert seen_from_outside(stack, walled) == ""
    assert not pings(stack, walled, OUTSIDE)

    plain = networks("--opt", MASQ_OFF)
    outside.route_back(subnet_of(stack, plain))
    direct = containers(plain)
    assert seen_from_outside(stack, direct) == ip_of(stack, direct, plain)


def test_masquerade_to_the_outside(
    stack: Stack,
    outside: Outside,
    networks: Callable[..., str],
    containers: Callable[..., str],
) -> None:
    """Docker source-NATs (MASQUERADE) what leaves a bridge network for
    elsewhere: the far end sees the host's address on its link, not the
    container's. An internal network reaches nothing outside; with
    `enable_ip_masquerade=false` the container's own address goes out."""
    check_masquerade(stack, outside, networks, containers)


# -- 6. events ------------------------------------------------------------------------


def network_events(stack: Stack, since: int, until: int) -> list[dict[str, Any]]:
    out = ok(
        stack.run_docker(
            "events",
            "--since",
            str(since),
            "--until",
            str(until),
            "--filter",
            "type=network",
            "--format",
            "{{json .}}",
            timeout=60,
        )
    )
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def once(events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events with a repeat of the one before left out: dockerd 20.10 logs
    `disconnect` twice for one `network disconnect` (observed; hangu once)."""
    kept: list[dict[str, Any]] = []
    for event in events:
        last = kept[-1] if kept else {}
        if (last.get("Action"), last.get("Actor")) != (event["Action"], event["Actor"]):
            kept.append(event)
    return kept


def test_network_events(stack: Stack, busybox: str, containers: Callable[..., str]) -> None:
    """dockerd emits, for type network: create and destroy (attributes name
    and type), connect and disconnect (also container: its full id), with
    the network's id as Actor.ID and scope local; docker-py sees the same."""
    since = int(time.time()) - 1
    name = unique("hgy-ev")
    box = containers("bridge")
    box_id = inspect(stack, box)["Id"]
    ok(stack.run_docker("network", "create", name))
    net_id = inspect(stack, name)["Id"]
    try:
        ok(stack.run_docker("network", "connect", name, box))
        ok(stack.run_docker("network", "disconnect", name, box))
    finally:
        ok(stack.run_docker("network", "rm", name))
    until = int(time.time()) + 1

    events = once(e for e in network_events(stack, since, until) if e["Actor"]["ID"] == net_id)
    assert [e["Action"] for e in events] == ["create", "connect", "disconnect", "destroy"]
    plain = {"name": name, "type": "bridge"}
    expected = [plain, {**plain, "container": box_id}, {**plain, "container": box_id}, plain]
    for event, attributes in zip(events, expected, strict=True):
        assert event["Type"] == "network" and event["scope"] == "local", event
        # Only container and image events carry the old status/id/from.
        assert not {"status", "id", "from"} & set(event), event
        assert event["Actor"]["Attributes"] == attributes, event
        assert event["time"] >= since and event["timeNano"] // 10**9 == event["time"], event

    client = stack.docker_client()
    try:
        seen = once(
            e
            for e in client.events(
                since=since, until=until, filters={"type": "network"}, decode=True
            )
            if e["Actor"]["ID"] == net_id
        )
    finally:
        client.close()
    assert [e["Action"] for e in seen] == ["create", "connect", "disconnect", "destroy"]


# -- 7. rename -------------------------------------------------------------------------


def test_rename_is_seen_by_dns_and_network_inspect(
    stack: Stack, networks: Callable[..., str], containers: Callable[..., str]
) -> None:
    """`docker rename` renames the container's endpoints too: peers resolve
    the new name and no longer the old one, and `network inspect` lists the
    container under its new name."""
    net = networks()
    target, peer = containers(net), containers(net)
    address = ip_of(stack, target, net)
    assert resolves(stack, peer, target) == address
    new = unique("iso-renamed")
    ok(stack.run_docker("rename", target, new))
    try:
        assert wait_for(lambda: resolves(stack, peer, new) == address)
        assert reaches(stack, peer, new)
        assert resolves(stack, peer, target) == ""
        assert not pings(stack, peer, target)
        doc = json.loads(ok(stack.run_docker("network", "inspect", net)))[0]
        assert [
            c["Name"]
            for c in doc["Containers"].values()
            if c["IPv4Address"].startswith(address + "/")
        ] == [new]
    finally:
        # The fixture removes it by its old name.
        stack.run_docker("rm", "-f", new)


# -- 5. beside a real dockerd --------------------------------------------------------


@pytest.fixture(scope="module")
def dockerd(stack: Stack) -> Iterator[Dockerd]:
    """One throw-away dockerd for the module (iptables on, br_netfilter
    loaded), stopped and cleaned before the stack goes; skipped only when no
    dockerd can be installed or started. The FORWARD policy is DROP while it
    runs, as dockerd sets it on a host where it finds forwarding off (here
    hangu turned forwarding on first), and restored afterwards."""
    with contextlib.ExitStack() as exits:
        policy = forward_policy()
        exits.callback(sh, "iptables", "-w", "5", "-P", "FORWARD", policy)
        try:
            daemon = exits.enter_context(running_dockerd())
        except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
            pytest.skip(f"no dockerd can start here: {err}")
        sh("iptables", "-w", "5", "-P", "FORWARD", "DROP")
        yield daemon


def forward_policy() -> str:
    return sh("iptables", "-w", "5", "-S", "FORWARD").splitlines()[0].split()[2]


def dockerd_cli(daemon: Dockerd, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER, "-H", daemon.host, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DOCKER_CONFIG": str(daemon.tmp / "cli")},
    )


def dockerd_rules_in_place(daemon: Dockerd) -> bool:
    """dockerd's iptables rules for its bridge, with br_netfilter sending
    bridged traffic through them. (dockerd turns the FORWARD policy to DROP
    only when it finds ip_forward off, which hangu's masquerade has already
    turned on here: tests/network/test_docker_user.py covers DROP.)"""
    rules = sh("iptables", "-w", "5", "-S") + sh("iptables", "-w", "5", "-t", "nat", "-S")
    bridged = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    return daemon.bridge in rules and bridged.exists() and bridged.read_text().strip() == "1"


def test_beside_dockerd_names_resolve_on_one_network(
    stack: Stack, dockerd: Dockerd, networks: Callable[..., str], containers: Callable[..., str]
) -> None:
    """dockerd's iptables rules (bridged traffic sent through them by
    br_netfilter) must not cut containers of one hangu network off from
    each other."""
    assert dockerd_rules_in_place(dockerd) and forward_policy() == "DROP"
    net = networks()
    c1, c2 = containers(net), containers(net)
    assert reaches(stack, c1, c2) and reaches(stack, c2, c1)
    assert resolves(stack, c1, c2) == ip_of(stack, c2, net)


def test_beside_dockerd_networks_stay_isolated(
    stack: Stack, dockerd: Dockerd, networks: Callable[..., str], containers: Callable[..., str]
) -> None:
    """hangu's DOCKER-USER accepts (by bridge) do not open one network to
    another: its own table still drops what crosses bridges, an --internal
    network still has no way out."""
    assert forward_policy() == "DROP"
    net_a, net_b, internal = networks(), networks(), networks("--internal")
    a, b = containers(net_a), containers(net_b)
    i1, i2 = containers(internal), containers(internal)
    assert not pings(stack, a, ip_of(stack, b, net_b))
    assert not pings(stack, b, ip_of(stack, a, net_a))
    assert reaches(stack, i1, i2)
    assert not pings(stack, i1, ip_of(stack, a, net_a))


def test_beside_dockerd_published_port(
    stack: Stack, dockerd: Dockerd, networks: Callable[..., str], containers: Callable[..., str]
) -> None:
    """A port published on 127.0.0.1 reaches the container's listener."""
    port = 21600 + secrets.randbelow(100)
    word = secrets.token_hex(4)
    containers(
        networks(),
        "-p",
        f"127.0.0.1:{port}:8080",
        cmd=("nc", "-ll", "-p", "8080", "-e", "echo", word),
    )
    assert wait_for(lambda: fetch_tcp("127.0.0.1", port) == word)


def fetch_tcp(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
            return data.decode(errors="replace").strip()
    except OSError:
        return ""


def test_beside_dockerd_masquerade(
    stack: Stack,
    dockerd: Dockerd,
    outside: Outside,
    networks: Callable[..., str],
    containers: Callable[..., str],
) -> None:
    """The masquerade flow of test_masquerade_to_the_outside, with dockerd's
    iptables rules in place."""
    check_masquerade(stack, outside, networks, containers)


def test_beside_dockerd_dockerd_still_works(stack: Stack, dockerd: Dockerd) -> None:
    """hangu's rules leave dockerd working: it answers `info` and `network ls`."""
    assert dockerd_cli(dockerd, "info").returncode == 0
    listed = dockerd_cli(dockerd, "network", "ls", "--format", "{{.Name}}")
    assert listed.returncode == 0, listed.stderr
    assert {"bridge", "host", "none"} <= set(listed.stdout.split())
