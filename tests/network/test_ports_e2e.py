"""Published ports through the whole stack, driven by the real docker CLI and
docker-py: `-p` in all its forms, `-P`, IPv6 host addresses, `docker port`,
reachability on 127.0.0.1 and ::1, from other containers (hairpin) and from
another namespace (the client's address kept), Docker's errors for ports in
use and bad specs, and ports kept across a stack restart.

Stack: bridge hgq<rand>, table hgq_<rand>, pool 10.212.0.0/16 in /24s,
host ports 21200-21299 on 127.0.0.1/::1 (and on a test-made namespace)."""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dockercli import ok
from tests.support.stack import Stack, module_stack

pytestmark = [pytest.mark.root, pytest.mark.e2e]

HTTPD = ["httpd", "-f", "-v", "-p", "80", "-h", "/etc"]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    # Like `make up`: a stop keeps containers (and their ports) for the
    # restart test; the teardown purges.
    yield from module_stack("ports", "hgq", "10.212.0.0/16:24", purge_on_stop=False)


def fetch(url: str, tries: int = 40) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    last: Exception | None = None
    for _ in range(tries):
        try:
            return bytes(opener.open(url, timeout=2).read())
        except OSError as err:
            last = err
            time.sleep(0.2)
    raise AssertionError(f"{url}: {last}")


def nft_elements(stack: Stack) -> str:
    return subprocess.run(
        ["nft", "list", "table", "inet", stack.nft_table], capture_output=True, text=True
    ).stdout


def can_bind(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        # TIME_WAIT left by the test's own connections is not "in use".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


@contextlib.contextmanager
def container(stack: Stack, *args: str) -> Iterator[str]:
    name = "pq-" + secrets.token_hex(3)
    try:
        ok(stack.run_docker("run", "-d", "--name", name, *args))
        yield name
    finally:
        stack.run_docker("rm", "-f", name)


def port_lines(stack: Stack, name: str, *port: str) -> list[str]:
    return ok(stack.run_docker("port", name, *port)).splitlines()


def test_range_publishes_every_port(stack: Stack, busybox: str) -> None:
    serve = "httpd -p 80 -h /etc; httpd -p 81 -h /etc; exec httpd -f -p 82 -h /etc"
    with container(stack, "-p", "127.0.0.1:21210-21212:80-82", busybox, "sh", "-c", serve) as name:
        assert sorted(port_lines(stack, name)) == [
            "80/tcp -> 127.0.0.1:21210",
            "81/tcp -> 127.0.0.1:21211",
            "82/tcp -> 127.0.0.1:21212",
        ]
        for port in (21210, 21211, 21212):
            assert b"root:" in fetch(f"http://127.0.0.1:{port}/passwd")


def test_host_range_for_one_port_picks_a_free_one(stack: Stack, busybox: str) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 21213))
        held.listen()
        with container(stack, "-p", "127.0.0.1:21213-21215:80", busybox, *HTTPD) as name:
            assert port_lines(stack, name, "80") == ["127.0.0.1:21214"]
            assert b"root:" in fetch("http://127.0.0.1:21214/passwd")


def test_all_addresses_v4_and_v6_reachable_on_both_loopbacks(stack: Stack, busybox: str) -> None:
    with container(stack, "-p", "21221:80", busybox, *HTTPD) as name:
        assert port_lines(stack, name) == ["80/tcp -> 0.0.0.0:21221", "80/tcp -> [::]:21221"]
        doc = json.loads(ok(stack.run_docker("inspect", name)))[0]
        assert doc["NetworkSettings"]["Ports"] == {
            "80/tcp": [
                {"HostIp": "0.0.0.0", "HostPort": "21221"},
                {"HostIp": "::", "HostPort": "21221"},
            ]
        }
        assert b"root:" in fetch("http://127.0.0.1:21221/passwd")
        assert b"root:" in fetch("http://[::1]:21221/passwd")
        # Held for the container: no host process can take it meanwhile.
        assert not can_bind("127.0.0.1", 21221) and not can_bind("::1", 21221)
        assert "tcp . 21221 :" in nft_elements(stack)
    assert "21221" not in nft_elements(stack)
    assert can_bind("127.0.0.1", 21221) and can_bind("::", 21221)


def test_ipv6_loopback_only(stack: Stack, busybox: str) -> None:
    with container(stack, "-p", "[::1]:21220:80", busybox, *HTTPD) as name:
        assert port_lines(stack, name, "80") == ["[::1]:21220"]
        assert b"root:" in fetch("http://[::1]:21220/passwd")
        assert can_bind("127.0.0.1", 21220)


def test_random_port_and_publish_all(stack: Stack, busybox: str) -> None:
    low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    with container(stack, "-p", "80", busybox, *HTTPD) as name:
        lines = port_lines(stack, name, "80")
        assert len(lines) == 2 and lines[0].startswith("0.0.0.0:") and lines[1].startswith("[::]:")
        port = int(lines[0].rsplit(":", 1)[1])
        assert lines[1] == f"[::]:{port}" and low <= port <= high
        assert b"root:" in fetch(f"http://127.0.0.1:{port}/passwd")
    with container(stack, "--expose", "80", "--expose", "5353/udp", "-P", busybox, *HTTPD) as name:
        lines = port_lines(stack, name)
        assert sorted({line.split(" ->")[0] for line in lines}) == ["5353/udp", "80/tcp"]
        assert len(lines) == 4
        tcp = next(line for line in lines if line.startswith("80/tcp -> 0.0.0.0:"))
        assert b"root:" in fetch(f"http://127.0.0.1:{tcp.rsplit(':', 1)[1]}/passwd")


def test_hairpin_from_another_container(stack: Stack, busybox: str) -> None:
    doc = json.loads(ok(stack.run_docker("network", "inspect", "bridge")))[0]
    gateway = doc["IPAM"]["Config"][0]["Gateway"]
    with container(stack, "-p", "21222:80", busybox, *HTTPD):
        out = ok(
            stack.run_docker(
                "run",
                "--rm",
                busybox,
                "sh",
                "-c",
                f"for i in 1 2 3 4 5; do wget -q -O- http://{gateway}:21222/passwd "
                "&& exit 0; sleep 0.3; done; exit 1",
            )
        )
        assert "root:" in out


@contextlib.contextmanager
def outside_namespace() -> Iterator[tuple[str, str]]:
    """A namespace wired to the host by a plain veth (not a bridge): a client
    that is not on the host, as far as the host's routing goes."""
    tag = secrets.token_hex(2)
    ns, host_if = f"hgq-out-{tag}", f"hgqo{tag}"
    host_ip, client_ip = "10.212.254.1", "10.212.254.2"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(
            ["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", ns],
            check=True,
        )
        subprocess.run(["ip", "addr", "add", f"{host_ip}/30", "dev", host_if], check=True)
        subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
        for cmd in (
            ["ip", "addr", "add", f"{client_ip}/30", "dev", "eth0"],
            ["ip", "link", "set", "eth0", "up"],
            ["ip", "link", "set", "lo", "up"],
        ):
            subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)
        yield ns, host_ip
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_outside_client_keeps_its_address(stack: Stack, busybox: str) -> None:
    with (
        outside_namespace() as (ns, host_ip),
        container(stack, "-p", "21223:80", busybox, *HTTPD) as name,
    ):
        got = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "busybox",
                "wget",
                "-q",
                "-O-",
                f"http://{host_ip}:21223/passwd",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert "root:" in got.stdout, got.stderr
        time.sleep(0.3)
        logs = stack.run_docker("logs", name)
        assert "10.212.254.2" in logs.stdout + logs.stderr


def test_port_in_use_fails_start_and_leaves_nothing(stack: Stack, busybox: str) -> None:
    name = "pq-" + secrets.token_hex(3)
    # This stack's bridge only (other stacks may run beside), and no new
    # port on it: one of an earlier test may still be going (deleted off
    # the request path).
    brif = Path("/sys/class/net", stack.bridge, "brif")
    veths = set(brif.iterdir())
    with socket.socket() as held:
        held.bind(("127.0.0.1", 21230))
        held.listen()
        try:
            run = stack.run_docker(
                "run", "-d", "--name", name, "-p", "127.0.0.1:21230:80", busybox, *HTTPD
            )
            assert run.returncode != 0
            assert (
                "failed to set up container networking: driver failed programming "
                "external connectivity on endpoint" in run.stderr
            )
            assert (
                "failed to bind host port 127.0.0.1:21230/tcp: address already in use" in run.stderr
            )
            state = ok(stack.run_docker("inspect", "-f", "{{.State.Status}}", name)).strip()
            assert state == "created"
            assert "21230" not in nft_elements(stack)
            assert set(brif.iterdir()) <= veths
            assert not list((stack.run / "netns").glob("*"))
        finally:
            stack.run_docker("rm", "-f", name)
    with container(stack, "-p", "127.0.0.1:21231:80", "-p", "21232:81", busybox, *HTTPD):
        for spec, holder in (
            ("127.0.0.1:21231:80", "127.0.0.1"),
            ("127.0.0.1:21232:80", "0.0.0.0"),
        ):
            run = stack.run_docker("run", "-d", "-p", spec, busybox, *HTTPD)
            port = spec.split(":")[1]
            assert f"Bind for {holder}:{port} failed: port is already allocated" in run.stderr
        stack.run_docker("container", "prune", "-f")


def test_sctp(stack: Stack, busybox: str) -> None:
    try:
        socket.socket(socket.AF_INET, socket.SOCK_STREAM, 132).close()
    except OSError:
        run = stack.run_docker("run", "-d", "-p", "127.0.0.1:21240:80/sctp", busybox, *HTTPD)
        assert run.returncode != 0
        assert (
            "failed to create socket for 127.0.0.1:21240/sctp: protocol not supported" in run.stderr
        )
        stack.run_docker("container", "prune", "-f")
        return
    with container(stack, "-p", "127.0.0.1:21240:80/sctp", busybox, *HTTPD) as name:
        assert port_lines(stack, name) == ["80/sctp -> 127.0.0.1:21240"]


@pytest.mark.parametrize(
    ("bindings", "message"),
    [
        ({"80/tcp": [{"HostPort": "99999"}]}, 'invalid port specification: "99999"'),
        ({"abc/tcp": [{"HostPort": "8080"}]}, 'invalid port specification: "abc"'),
        ({"80/tcp": [{"HostPort": "90-80"}]}, 'invalid port specification: "90-80"'),
        ({"80/foo": [{"HostPort": "8080"}]}, "invalid proto: foo"),
    ],
)
def test_bad_specs_are_400(stack: Stack, busybox: str, bindings: object, message: str) -> None:
    import docker

    api = docker.APIClient(base_url=stack.docker_host)
    with pytest.raises(docker.errors.APIError) as err:
        api.create_container(busybox, "true", host_config={"PortBindings": bindings})
    assert err.value.status_code == 400
    assert err.value.explanation == message


def test_docker_cli_rejects_bad_specs(stack: Stack, busybox: str) -> None:
    for spec in ("99999:80", "abc", "80/foo"):
        run = stack.run_docker("create", "-p", spec, busybox)
        assert run.returncode != 0 and "invalid" in run.stderr.lower(), run.stderr


def test_docker_py_ports(stack: Stack, busybox: str) -> None:
    client = stack.docker_client()
    ctr = client.containers.run(
        busybox, HTTPD, detach=True, ports={"80/tcp": ("127.0.0.1", 21250), "81/tcp": 21251}
    )
    try:
        ctr.reload()
        assert ctr.ports == {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "21250"}],
            "81/tcp": [
                {"HostIp": "0.0.0.0", "HostPort": "21251"},
                {"HostIp": "::", "HostPort": "21251"},
            ],
        }
        assert client.api.port(ctr.id, 80) == [{"HostIp": "127.0.0.1", "HostPort": "21250"}]
        assert b"root:" in fetch("http://127.0.0.1:21250/passwd")
        ctr.stop(timeout=1)
        assert "21250" not in nft_elements(stack) and can_bind("127.0.0.1", 21250)
    finally:
        ctr.remove(force=True)


def test_ports_survive_a_stack_restart(stack: Stack, busybox: str) -> None:
    with container(
        stack, "-p", "127.0.0.1:21260:80", "-p", "[::1]:21261:80", busybox, *HTTPD
    ) as name:
        assert b"root:" in fetch("http://127.0.0.1:21260/passwd")
        assert ok(stack.supervisor("stop")) is not None  # make down
        assert b"root:" in fetch("http://127.0.0.1:21260/passwd")  # the kernel forwards
        stack.start()  # make up
        assert sorted(port_lines(stack, name)) == [
            "80/tcp -> 127.0.0.1:21260",
            "80/tcp -> [::1]:21261",
        ]
        assert b"root:" in fetch("http://127.0.0.1:21260/passwd")
        assert b"root:" in fetch("http://[::1]:21261/passwd")
        assert not can_bind("127.0.0.1", 21260)
