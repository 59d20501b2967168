"""IPv6 dual stack, enable_icc=false and per-container upstream DNS, at the
network service (the e2e modules drive the same through the docker CLI).

Subnets: the service's pool 10.201.0.0/16 and ULA /64s of the machine's
/48; explicit ones in 10.201.2xx.0/24 and fd42:hg01:<rand>::/64."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from hangu.network.v1 import network_pb2 as pb
from hangu_network import dns, ipam

from .conftest import NetEnv, ns_run, ping
from .test_dns import fake_nameserver, resolve

pytestmark = pytest.mark.root


def resolve6(netns_path: str, server: str, name: str) -> tuple[int, list[str]]:
    return resolve(netns_path, server, name, qtype=dns.QTYPE_AAAA)


def ping6(netns_path: str, address: str) -> bool:
    return ns_run(netns_path, "busybox", "ping", "-6", "-c1", "-W1", address).returncode == 0


def cid() -> str:
    return secrets.token_hex(32)


def ula_subnet() -> str:
    return f"fd42:4801:{secrets.randbelow(0xFFFF):x}::/64"


@pytest.fixture
def sandboxes(net_env: NetEnv) -> Iterator[list[str]]:
    """Sandboxes to remove after the test."""
    made: list[str] = []
    yield made
    for c in made:
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))


@pytest.fixture
def networks(net_env: NetEnv, sandboxes: list[str]) -> Iterator[list[str]]:
    """Network ids to remove after the test, once its sandboxes are gone
    (their veths too: removed off the request path)."""
    made: list[str] = []
    yield made
    for c in sandboxes:
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    sandboxes.clear()
    net_env.service.sandboxes.drain()  # type: ignore[attr-defined]
    for n in made:
        net_env.stub.Remove(pb.RemoveNetworkRequest(reference=n))


def sandbox(env: NetEnv, made: list[str], network: str, **kw: object) -> pb.Sandbox:
    c = cid()
    made.append(c)
    return env.stub.CreateSandbox(
        pb.CreateSandboxRequest(container_id=c, network_mode=network, **kw)  # type: ignore[arg-type]
    )


def test_ipv6_network_gives_each_container_an_address_route_and_dns(
    net_env: NetEnv, sandboxes: list[str], networks: list[str]
) -> None:
    """As Docker: an --ipv6 network with a ULA subnet hands out a global
    address per container, a default route via the gateway, AAAA answers for
    container names and a resolver on the IPv6 gateway too."""
    stub = net_env.stub
    subnet = ula_subnet()
    net = stub.Create(
        pb.CreateNetworkRequest(
            name="hgn6-" + secrets.token_hex(2),
            enable_ipv6=True,
            ipam=pb.IPAM(config=[pb.IPAMConfig(subnet=subnet)]),
        )
    )
    networks.append(net.id)
    configs = {c.subnet: c for c in net.ipam.config}
    assert subnet in configs and len(configs) == 2 and net.enable_ipv6
    gw6 = configs[subnet].gateway
    assert gw6 == str(ipaddress.ip_network(subnet).network_address + 1)
    fixed = str(ipaddress.ip_network(subnet).network_address + 0x99)
    a = sandbox(net_env, sandboxes, net.name, container_name="six-a")
    b = sandbox(
        net_env,
        sandboxes,
        net.name,
        container_name="six-b",
        endpoints=[pb.EndpointRequest(network=net.name, ipv6_address=fixed)],
    )
    ep_a, ep_b = a.endpoints[0], b.endpoints[0]
    assert ep_b.ipv6_address == fixed and ep_b.ipv6_prefix_len == 64
    assert ipaddress.ip_address(ep_a.ipv6_address) in ipaddress.ip_network(subnet)
    assert ep_a.ipv6_gateway == gw6
    assert ep_a.ipv4_address  # dual stack
    routes = ns_run(a.netns_path, "ip", "-6", "route").stdout
    assert f"default via {gw6}" in routes
    assert ping6(a.netns_path, fixed) and ping6(a.netns_path, gw6)
    assert ping(a.netns_path, ep_b.ipv4_address)
    resolv = Path(a.resolv_conf_path).read_text()
    # the resolver at Docker's 127.0.0.11, then at the IPv6 gateway
    assert f"nameserver {dns.EMBEDDED}\nnameserver {gw6}\n" in resolv
    hosts = Path(b.hosts_path).read_text()
    assert f"{fixed}\t" in hosts and f"{ep_b.ipv4_address}\t" in hosts
    # A and AAAA of a name, over IPv4 and over IPv6
    gw4 = net.ipam.config[0].gateway
    assert resolve6(a.netns_path, gw4, "six-b") == (0, [fixed])
    assert resolve6(a.netns_path, gw6, "six-b") == (0, [fixed])
    assert resolve(a.netns_path, gw4, "six-b") == (0, [ep_b.ipv4_address])
    # an address in use: refused
    again = pb.CreateSandboxRequest(
        container_id=cid(),
        network_mode=net.name,
        endpoints=[pb.EndpointRequest(network=net.name, ipv6_address=fixed)],
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.CreateSandbox(again)
    assert err.value.code() == grpc.StatusCode.ABORTED  # Conflict: a 409 at the gateway
    assert err.value.details() == f"Address already in use: {fixed}"


def test_ipv6_without_subnet_gets_a_ula_64_from_the_machine_prefix(net_env: NetEnv) -> None:
    stub = net_env.stub
    nets = [
        stub.Create(pb.CreateNetworkRequest(name="hgn6a-" + secrets.token_hex(2), enable_ipv6=True))
        for _ in range(2)
    ]
    try:
        six = [next(c.subnet for c in n.ipam.config if ":" in c.subnet) for n in nets]
        base = ipam.ula_base()
        for subnet in six:
            net = ipaddress.ip_network(subnet)
            assert net.prefixlen == 64 and net.subnet_of(base)  # type: ignore[arg-type]
        assert six[0] != six[1]
    finally:
        for n in nets:
            stub.Remove(pb.RemoveNetworkRequest(reference=n.id))


def test_ipam_errors_as_dockerd(net_env: NetEnv) -> None:
    stub = net_env.stub
    two = pb.CreateNetworkRequest(
        name="hgn6e-" + secrets.token_hex(2),
        ipam=pb.IPAM(
            config=[
                pb.IPAMConfig(subnet="10.201.241.0/24"),
                pb.IPAMConfig(subnet="10.201.242.0/24"),
            ]
        ),
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.Create(two)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.value.details() == "bridge driver doesn't support multiple subnets"
    outside = pb.CreateNetworkRequest(
        name="hgn6e-" + secrets.token_hex(2),
        ipam=pb.IPAM(
            config=[pb.IPAMConfig(subnet="10.201.243.0/24", aux_addresses={"r": "10.9.9.9"})]
        ),
    )
    with pytest.raises(grpc.RpcError) as err:
        stub.Create(outside)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    names = {n.name for n in stub.List(pb.ListNetworksRequest()).networks}
    assert two.name not in names and outside.name not in names


def test_aux_addresses_are_never_handed_out(
    net_env: NetEnv, sandboxes: list[str], networks: list[str]
) -> None:
    stub = net_env.stub
    third = 200 + secrets.randbelow(40)
    net = stub.Create(
        pb.CreateNetworkRequest(
            name="hgnaux-" + secrets.token_hex(2),
            ipam=pb.IPAM(
                config=[
                    pb.IPAMConfig(
                        subnet=f"10.201.{third}.0/24",
                        aux_addresses={"router": f"10.201.{third}.2"},
                    )
                ]
            ),
        )
    )
    networks.append(net.id)
    assert dict(net.ipam.config[0].aux_addresses) == {"router": f"10.201.{third}.2"}
    sb = sandbox(net_env, sandboxes, net.name)
    assert sb.endpoints[0].ipv4_address == f"10.201.{third}.3"


def test_icc_false_isolates_containers_but_not_the_gateway(
    net_env: NetEnv, sandboxes: list[str], networks: list[str]
) -> None:
    """enable_icc=false: Docker drops container-to-container traffic on the
    bridge; the gateway (and its resolver) stays reachable."""
    stub = net_env.stub
    net = stub.Create(
        pb.CreateNetworkRequest(
            name="hgnicc-" + secrets.token_hex(2),
            options={"com.docker.network.bridge.enable_icc": "false"},
        )
    )
    networks.append(net.id)
    a = sandbox(net_env, sandboxes, net.name, container_name="icc-a")
    b = sandbox(net_env, sandboxes, net.name, container_name="icc-b")
    gw = net.ipam.config[0].gateway
    assert ping(a.netns_path, gw)
    assert not ping(a.netns_path, b.endpoints[0].ipv4_address)
    assert resolve(a.netns_path, gw, "icc-b") == (0, [b.endpoints[0].ipv4_address])


@pytest.fixture
def upstream_53() -> Iterator[str]:
    """A container's --dns server: a fake on 127.0.<x>.<y>:53 answering
    every A query with 10.201.254.253."""
    address = f"127.0.{secrets.randbelow(200) + 20}.{secrets.randbelow(200) + 20}"
    with fake_nameserver(address, 53, "10.201.254.253"):
        yield address


def test_dns_servers_keep_container_names(
    net_env: NetEnv, sandboxes: list[str], networks: list[str], upstream_53: str
) -> None:
    """--dns on a user network: resolv.conf still points at the network's
    resolver, which answers container names itself and sends the rest to
    that container's servers (Docker's embedded DNS with ExtServers)."""
    stub = net_env.stub
    net = stub.Create(pb.CreateNetworkRequest(name="hgndns2-" + secrets.token_hex(2)))
    networks.append(net.id)
    gw = net.ipam.config[0].gateway
    peer = sandbox(net_env, sandboxes, net.name, container_name="dns-peer")
    a = sandbox(net_env, sandboxes, net.name, container_name="dns-a", dns=[upstream_53])
    resolv = Path(a.resolv_conf_path).read_text()
    assert f"nameserver {dns.EMBEDDED}" in resolv and upstream_53 not in resolv
    for server in (dns.EMBEDDED, gw):
        assert resolve(a.netns_path, server, "dns-peer") == (0, [peer.endpoints[0].ipv4_address])
        assert resolve(a.netns_path, server, "far.away.test") == (0, ["10.201.254.253"])


def test_link_forms() -> None:
    from hangu_network.models import AttachmentRow

    row = AttachmentRow(
        container_id="c", network_id="n", links_json='["db", "db:data", "/db:/web/data"]'
    )
    # the CLI's forms, and dockerd's stored one
    assert row.link_targets == [("db", "db"), ("db", "data"), ("db", "data")]
