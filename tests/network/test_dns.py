"""Container DNS on user networks: names of the network's containers are
answered at 127.0.0.11 inside each container and on the gateway,
everything else is forwarded; a container that publishes port 53 does not
capture the resolver."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hangu.network.v1 import network_pb2 as pb
from hangu_network import dns

from .conftest import NetEnv

pytestmark = pytest.mark.root

QUERY = """
import socket, struct, sys
from hangu_network import dns
q = dns.build_query(7, sys.argv[2], int(sys.argv[4]))
if sys.argv[3] == "tcp":
    s = socket.create_connection((sys.argv[1], 53), timeout=3)
    s.sendall(struct.pack("!H", len(q)) + q)
    reply = dns._recv_framed(s)
else:
    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(q, (sys.argv[1], 53))
    reply = s.recv(4096)
rcode, addrs = dns.parse_answer_addresses(reply)
print(rcode, ",".join(addrs))
"""


# what a DNS server in a container does: every address's port 53, UDP and TCP
BIND_53 = """
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 53))
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("0.0.0.0", 53)); t.listen(1)
"""


def resolve(
    netns_path: str, server: str, name: str, proto: str = "udp", qtype: int = dns.QTYPE_A
) -> tuple[int, list[str]]:
    """(rcode, addresses) of one query from inside a namespace."""
    out = subprocess.run(
        [
            "nsenter",
            f"--net={netns_path}",
            sys.executable,
            "-c",
            QUERY,
            server,
            name,
            proto,
            str(qtype),
        ],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    ).stdout.split()
    return int(out[0]), (out[1].split(",") if len(out) > 1 else [])


def test_wire_format_round_trip() -> None:
    q = dns.build_query(42, "Web.Example")
    qid, flags, name, qtype, end = dns.parse_question(q) or (0, 0, "", 0, 0)
    assert (qid, name, qtype, end) == (42, "web.example", dns.QTYPE_A, len(q))
    reply = dns.build_answer(q, end, flags, qtype, ["10.201.9.2", "10.201.9.3"])
    assert dns.parse_answer_addresses(reply) == (0, ["10.201.9.2", "10.201.9.3"])
    aaaa = dns.build_answer(q, end, flags, dns.QTYPE_AAAA, ["fd00:1::2"])
    assert dns.parse_answer_addresses(aaaa) == (0, ["fd00:1::2"])
    # MX and friends of a known name: an empty NOERROR
    assert dns.parse_answer_addresses(dns.build_answer(q, end, flags, 15, ["1.2.3.4"])) == (0, [])


@contextmanager
def fake_nameserver(address: str, port: int, answer: str) -> Iterator[tuple[str, int]]:
    """A stand-in nameserver on loopback answering every A query with
    `answer`, so forwarding is tested without the internet."""
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind((address, port))
    up.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                packet, client = up.recvfrom(4096)
            except OSError:
                continue
            q = dns.parse_question(packet)
            if q:
                up.sendto(dns.build_answer(packet, q[4], q[1], q[3], [answer]), client)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield up.getsockname()
    finally:
        stop.set()
        thread.join()
        up.close()


@pytest.fixture
def fake_upstream(net_env: NetEnv) -> Iterator[None]:
    """The resolver's host upstream replaced by a fake on 127.0.0.1."""
    server = net_env.service.dns  # type: ignore[attr-defined]
    original = server.upstreams
    with fake_nameserver("127.0.0.1", 0, "10.201.254.254") as where:
        server.upstreams = lambda: [where]
        try:
            yield
        finally:
            server.upstreams = original


def test_names_on_user_network(net_env: NetEnv, fake_upstream: None) -> None:
    stub = net_env.stub
    net = stub.Create(pb.CreateNetworkRequest(name="hgndns-" + secrets.token_hex(2)))
    gw = net.ipam.config[0].gateway
    a, b = secrets.token_hex(32), secrets.token_hex(32)
    sa = stub.CreateSandbox(
        pb.CreateSandboxRequest(container_id=a, container_name="alpha", network_mode=net.name)
    )
    sb = stub.CreateSandbox(
        pb.CreateSandboxRequest(
            container_id=b,
            container_name="beta",
            hostname="bhost",
            network_mode=net.name,
            endpoints=[pb.EndpointRequest(network=net.name, aliases=["db"])],
            ports=[pb.PortMapping(protocol="udp", container_port=53, host_ip=gw, host_port=53)],
        )
    )
    ip_b = sb.endpoints[0].ipv4_address
    try:
        # Docker's address, inside each namespace; the gateway answers too
        assert f"nameserver {dns.EMBEDDED}\n" in Path(sa.resolv_conf_path).read_text()
        for server in (dns.EMBEDDED, gw):
            for name in ("beta", "BETA", "db", "bhost", b[:12]):
                assert resolve(sa.netns_path, server, name) == (0, [ip_b]), (server, name)
            assert resolve(sb.netns_path, server, "alpha") == (0, [sa.endpoints[0].ipv4_address])
            assert resolve(sa.netns_path, server, "elsewhere.test") == (0, ["10.201.254.254"])
            assert resolve(sa.netns_path, server, "beta", "tcp") == (0, [ip_b])
        # port 53 stays free inside: a container may run a DNS server of its own
        taken = subprocess.run(
            ["nsenter", f"--net={sb.netns_path}", sys.executable, "-c", BIND_53],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert taken.returncode == 0, taken.stderr
        assert resolve(sb.netns_path, dns.EMBEDDED, "alpha") == (0, [sa.endpoints[0].ipv4_address])
    finally:
        stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=a))
        stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=b))
        stub.Remove(pb.RemoveNetworkRequest(reference=net.id))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        # the resolver let go of the gateway address with the network
        probe.setsockopt(socket.SOL_IP, dns.IP_FREEBIND, 1)
        probe.bind((gw, 53))


def test_default_bridge_has_no_container_dns(net_env: NetEnv) -> None:
    c = secrets.token_hex(32)
    sb = net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c))
    try:
        assert f"nameserver {sb.endpoints[0].gateway}" not in Path(sb.resolv_conf_path).read_text()
    finally:
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))


def test_daemon_dns_servers_are_the_upstreams(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 10.201.9.53\n")
    host, daemon = dns.DnsServer(conf), dns.DnsServer(conf, defaults=["127.0.0.5"])
    try:
        assert host.upstreams() == [("10.201.9.53", 53)]
        assert daemon.upstreams() == [("127.0.0.5", 53)]
    finally:
        host.close()
        daemon.close()
