"""The network service behind its gRPC server, doing real kernel work:
namespaces, veths on a test bridge, nftables, published ports."""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time
import urllib.request
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import grpc
import pytest
from pyroute2 import IPRoute

from hangu.network.v1 import network_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from hangu_network.ports import ephemeral_range

from .conftest import NetEnv, ns_run, ping

pytestmark = pytest.mark.root


def cid() -> str:
    return secrets.token_hex(32)


def test_predefined_networks(net_env: NetEnv) -> None:
    nets = {n.name: n for n in net_env.stub.List(pb.ListNetworksRequest()).networks}
    assert {"bridge", "host", "none"} <= set(nets)
    assert nets["host"].driver == "host" and nets["none"].driver == "null"
    bridge = nets["bridge"]
    assert len(bridge.id) == 64 and all(c in "0123456789abcdef" for c in bridge.id)
    assert bridge.driver == "bridge" and bridge.scope == "local"
    assert bridge.bridge_name == net_env.settings.bridge
    assert bridge.options["com.docker.network.bridge.name"] == net_env.settings.bridge
    subnet = IPv4Network(bridge.ipam.config[0].subnet)
    assert subnet.subnet_of(IPv4Network("10.201.0.0/16"))
    gw = bridge.ipam.config[0].gateway
    assert IPv4Address(gw) == subnet.network_address + 1
    with IPRoute() as ipr:
        idx = ipr.link_lookup(ifname=net_env.settings.bridge)[0]
        addrs = [a.get_attr("IFA_ADDRESS") for a in ipr.get_addr(index=idx, family=2)]
    assert gw in addrs
    # builtin filters as the docker CLI uses them
    custom = net_env.stub.List(
        pb.ListNetworksRequest(filters={"type": tpb.StringList(values=["custom"])})
    ).networks
    assert all(n.name not in ("bridge", "host", "none") for n in custom)


def test_two_sandboxes_ping(net_env: NetEnv) -> None:
    a_id, b_id = cid(), cid()
    a = net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=a_id, hostname="a"))
    b = net_env.stub.CreateSandbox(
        pb.CreateSandboxRequest(container_id=b_id, network_mode="bridge")
    )
    try:
        assert ping(a.netns_path, b.endpoints[0].ipv4_address)
        assert ping(b.netns_path, a.endpoints[0].ipv4_address)
        assert ping(a.netns_path, a.endpoints[0].gateway)
    finally:
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=a_id))
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=b_id))


def test_sandbox_fields_and_files(net_env: NetEnv) -> None:
    c = cid()
    sb = net_env.stub.CreateSandbox(
        pb.CreateSandboxRequest(
            container_id=c,
            container_name="web",
            hostname="webhost",
            dns=["10.201.250.53"],
            dns_search=["example.test"],
            dns_options=["ndots:2"],
            extra_hosts=["db:10.201.250.9"],
        )
    )
    try:
        assert sb.netns_path == str(net_env.settings.run / "netns" / c[:12])
        assert sb.network_mode == "bridge"
        ep = sb.endpoints[0]
        bridge = net_env.stub.Get(pb.GetNetworkRequest(reference="bridge"))
        assert ep.network_name == "bridge" and ep.network_id == bridge.id
        assert ep.interface_name == "eth0" and len(ep.endpoint_id) == 64
        assert IPv4Address(ep.ipv4_address) in IPv4Network(bridge.ipam.config[0].subnet)
        assert ep.gateway == bridge.ipam.config[0].gateway
        assert ep.ipv4_prefix_len == IPv4Network(bridge.ipam.config[0].subnet).prefixlen
        octets = ":".join(f"{b:02x}" for b in IPv4Address(ep.ipv4_address).packed)
        assert ep.mac_address == "02:42:" + octets
        files = net_env.settings.root / "network" / "sandboxes" / c
        assert sb.hosts_path == str(files / "hosts")
        assert Path(sb.hostname_path).read_text() == "webhost\n"
        hosts = Path(sb.hosts_path).read_text().splitlines()
        assert hosts[0] == "127.0.0.1\tlocalhost"
        assert "10.201.250.9\tdb" in hosts and hosts[-1] == f"{ep.ipv4_address}\twebhost"
        resolv = Path(sb.resolv_conf_path).read_text()
        assert "nameserver 10.201.250.53" in resolv and "search example.test" in resolv
        assert "options ndots:2" in resolv
        # inside: lo and eth0 up, address, MAC, default route via the gateway
        out = ns_run(sb.netns_path, "ip", "-o", "addr").stdout
        assert f"inet {ep.ipv4_address}/{ep.ipv4_prefix_len}" in out and "127.0.0.1/8" in out
        link = ns_run(sb.netns_path, "ip", "-o", "link", "show", "eth0").stdout
        assert ep.mac_address in link and "UP" in link
        route = ns_run(sb.netns_path, "ip", "route").stdout
        assert f"default via {ep.gateway} dev eth0" in route
        # the sandbox is listed on its network and readable back
        got = net_env.stub.GetSandbox(pb.GetSandboxRequest(container_id=c))
        assert got.endpoints[0].ipv4_address == ep.ipv4_address
        net = net_env.stub.Get(pb.GetNetworkRequest(reference=bridge.id[:10]))
        assert net.containers[c].ipv4_address == ep.ipv4_address
        assert net.containers[c].container_name == "web"
    finally:
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    assert not os.path.exists(sb.netns_path) and not files.exists()
    net_env.service.sandboxes.drain()  # type: ignore[attr-defined]
    with IPRoute() as ipr:
        assert not [i for i in ipr.get_links() if i.get_attr("IFLA_ADDRESS") == ep.mac_address]


def test_none_mode(net_env: NetEnv) -> None:
    c = cid()
    sb = net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c, network_mode="none"))
    try:
        assert sb.netns_path and not sb.endpoints
        links = ns_run(sb.netns_path, "ip", "-o", "link").stdout.strip().splitlines()
        assert len(links) == 1 and ": lo:" in links[0] and "UP" in links[0]
        assert Path(sb.hosts_path).read_text().splitlines()[-1] == "ff02::2\tip6-allrouters"
    finally:
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    assert not os.path.exists(sb.netns_path)


def test_host_mode(net_env: NetEnv) -> None:
    c = cid()
    sb = net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c, network_mode="host"))
    try:
        assert sb.netns_path == "" and not sb.endpoints
        assert Path(sb.hosts_path).read_text() == Path("/etc/hosts").read_text()
        assert Path(sb.resolv_conf_path).read_text() == Path("/etc/resolv.conf").read_text()
        assert Path(sb.hostname_path).read_text().strip() == os.uname().nodename
    finally:
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))


def test_requested_ip_and_conflict(net_env: NetEnv) -> None:
    stub = net_env.stub
    a, b = cid(), cid()
    code = _code(
        stub.CreateSandbox,
        pb.CreateSandboxRequest(
            container_id=a,
            endpoints=[pb.EndpointRequest(network="bridge", ipv4_address="10.201.0.50")],
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT  # as dockerd: user networks only
    pooled = stub.Create(pb.CreateNetworkRequest(name="hgnip-" + secrets.token_hex(2)))
    try:
        # ... and only those whose subnet the user configured
        at = str(IPv4Network(pooled.ipam.config[0].subnet).network_address + 200)
        refused = pb.CreateSandboxRequest(
            container_id=a,
            network_mode=pooled.name,
            endpoints=[pb.EndpointRequest(network=pooled.name, ipv4_address=at)],
        )
        assert _code(stub.CreateSandbox, refused) == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        stub.Remove(pb.RemoveNetworkRequest(reference=pooled.id))
    subnet = f"10.201.{200 + secrets.randbelow(50)}.0/24"
    net = stub.Create(
        pb.CreateNetworkRequest(
            name="hgnip-" + secrets.token_hex(2),
            ipam=pb.IPAM(config=[pb.IPAMConfig(subnet=subnet)]),
        )
    )
    want = str(IPv4Network(subnet).network_address + 200)
    sb = stub.CreateSandbox(
        pb.CreateSandboxRequest(
            container_id=a,
            network_mode=net.name,
            endpoints=[pb.EndpointRequest(network=net.name, ipv4_address=want)],
        )
    )
    try:
        assert sb.endpoints[0].ipv4_address == want
        assert (
            _code(
                stub.CreateSandbox,
                pb.CreateSandboxRequest(
                    container_id=b,
                    network_mode=net.name,
                    endpoints=[pb.EndpointRequest(ipv4_address=want)],
                ),
            )
            == grpc.StatusCode.ABORTED
        )
        assert (
            _code(
                stub.CreateSandbox,
                pb.CreateSandboxRequest(
                    container_id=b,
                    network_mode=net.name,
                    endpoints=[pb.EndpointRequest(ipv4_address="192.0.2.77")],
                ),
            )
            == grpc.StatusCode.INVALID_ARGUMENT
        )
        # a failed create leaves nothing behind
        assert not (net_env.settings.run / "netns" / b[:12]).exists()
    finally:
        stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=a))
        stub.Remove(pb.RemoveNetworkRequest(reference=net.id))


def _code(fn, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        fn(*args)
    return err.value.code()


def test_host_port_in_use_by_a_host_process(net_env: NetEnv) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(grpc.RpcError) as err:
            net_env.stub.CreateSandbox(
                pb.CreateSandboxRequest(
                    container_id=cid(),
                    ports=[
                        pb.PortMapping(
                            protocol="tcp", container_port=80, host_ip="127.0.0.1", host_port=port
                        )
                    ],
                )
            )
        assert "address already in use" in (err.value.details() or "")


def test_published_port_from_localhost(net_env: NetEnv, tmp_path: Path) -> None:
    c = cid()
    gw = net_env.stub.Get(pb.GetNetworkRequest(reference="bridge")).ipam.config[0].gateway
    sb = net_env.stub.CreateSandbox(
        pb.CreateSandboxRequest(
            container_id=c,
            ports=[
                pb.PortMapping(
                    protocol="tcp", container_port=8080, host_ip="127.0.0.1", host_port=0
                ),
                pb.PortMapping(protocol="tcp", container_port=8080, host_ip=gw, host_port=0),
            ],
        )
    )
    (tmp_path / "index.html").write_text("hello from hangu\n")
    httpd = subprocess.Popen(
        [
            "nsenter",
            f"--net={sb.netns_path}",
            "busybox",
            "httpd",
            "-f",
            "-p",
            "8080",
            "-h",
            str(tmp_path),
        ]
    )
    try:
        port = sb.ports[0]
        # dockerd picks from the kernel's ephemeral range (ip_local_port_range)
        low, high = ephemeral_range()
        assert port.host_ip == "127.0.0.1" and low <= port.host_port <= high
        assert port.container_port == 8080
        body = b""
        for _ in range(50):
            try:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                body = opener.open(f"http://127.0.0.1:{port.host_port}/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        assert body == b"hello from hangu\n"
        # from another container on the bridge, through the gateway address
        gw_port = sb.ports[1]
        other = cid()
        sb2 = net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=other))
        try:
            fetch = (
                "import urllib.request,sys; o=urllib.request.build_opener("
                "urllib.request.ProxyHandler({})); "
                "sys.stdout.write(o.open(sys.argv[1], timeout=3).read().decode())"
            )
            out = ns_run(
                sb2.netns_path,
                sys.executable,
                "-c",
                fetch,
                f"http://{gw_port.host_ip}:{gw_port.host_port}/",
            )
            assert out.stdout == "hello from hangu\n", out.stderr
        finally:
            net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=other))
        # the same host port cannot be published twice
        with pytest.raises(grpc.RpcError):
            net_env.stub.CreateSandbox(
                pb.CreateSandboxRequest(
                    container_id=cid(),
                    ports=[
                        pb.PortMapping(
                            protocol="tcp",
                            container_port=80,
                            host_ip="127.0.0.1",
                            host_port=port.host_port,
                        )
                    ],
                )
            )
    finally:
        httpd.kill()
        httpd.wait()
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    out = subprocess.run(
        ["nft", "list", "map", "inet", net_env.settings.nft_table, "ports_ip"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert str(port.host_port) not in out


def test_remove_sandbox_is_idempotent(net_env: NetEnv) -> None:
    c = cid()
    net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c, network_mode="none"))
    net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=cid()))
    with pytest.raises(grpc.RpcError) as err:
        net_env.stub.GetSandbox(pb.GetSandboxRequest(container_id=c))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_create_sandbox_latency(net_env: NetEnv) -> None:
    ids = [cid() for _ in range(10)]
    times = []
    try:
        for c in ids:
            t0 = time.perf_counter()
            net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c, hostname="x"))
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        for c in ids:
            net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    median = statistics.median(times)
    print(f"CreateSandbox over gRPC: median {median:.1f} ms, max {max(times):.1f} ms")
    assert median < 60


def test_parallel_sandboxes_get_distinct_addresses(net_env: NetEnv) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ids = [cid() for _ in range(16)]
    with ThreadPoolExecutor(8) as pool:
        boxes = list(
            pool.map(
                lambda c: net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c)), ids
            )
        )
    try:
        addrs = {b.endpoints[0].ipv4_address for b in boxes}
        assert len(addrs) == len(ids)
        assert ping(boxes[0].netns_path, boxes[-1].endpoints[0].ipv4_address)
    finally:
        with ThreadPoolExecutor(8) as pool:
            list(
                pool.map(
                    lambda c: net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c)),
                    ids,
                )
            )
    assert not any(os.path.exists(b.netns_path) for b in boxes)
