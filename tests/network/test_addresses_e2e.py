"""Addresses and names through the whole stack, driven by the real docker CLI
and docker-py: dual-stack IPv6 networks (a ULA subnet given or picked),
`--ip6`, `--ip` only on user-configured subnets, aux addresses, one subnet
per family, `--add-host …:host-gateway`, `--dns` on a user network keeping
container-name resolution, links, MAC addresses, several endpoints at
create and a network's host_binding_ipv4.

Stack: bridge hgw<rand>, table hgw_<rand>, pool 10.219.0.0/16 in /24s, root
/tmp/hgt-adr-*; explicit subnets in 10.220.0.0/16 and fd42:4802::/32; published
ports on 127.0.0.1:21760-21769."""

from __future__ import annotations

import ipaddress
import itertools
import secrets
import time
from collections.abc import Iterator

import docker
import pytest

from tests.support.dockercli import ok
from tests.support.stack import Stack, inspect, module_stack, unique

pytestmark = [pytest.mark.root, pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from module_stack("adr", bridge_prefix="hgw", subnet_pool="10.219.0.0/16:24")


# Explicit subnets of this module, each pick two /24s past the last (from a
# random start), so no two of its networks can ever overlap.
_THIRDS = itertools.count(2 * secrets.randbelow(100) + 1, 2)


def _third() -> int:
    """A free 10.220.<n>.0/24, with <n>+1 free beside it."""
    return next(_THIRDS) % 248 + 1


def subnets() -> tuple[str, str]:
    third = _third()
    return f"10.220.{third}.0/24", f"fd42:4802:{third:x}::/64"


def test_dual_stack_network(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    """--ipv6 with both subnets: each container gets an IPv4 and a global
    IPv6 address, a default route of each family, and its peers' names
    answer A and AAAA (ping -6 by name), as with dockerd."""
    v4, v6 = subnets()
    net, a = unique("hgw-ds"), unique("ds")
    cleanup.append(net)
    ok(stack.run_docker("network", "create", "--ipv6", "--subnet", v4, "--subnet", v6, net))
    doc = inspect(stack, net)
    assert doc["EnableIPv6"] is True
    configs = {c["Subnet"]: c for c in doc["IPAM"]["Config"]}
    assert set(configs) == {v4, v6}
    gw6 = str(ipaddress.ip_network(v6)[1])
    # given without a gateway: shown as given (dockerd), the first address used
    assert "Gateway" not in configs[v6] and "Gateway" not in configs[v4]
    cleanup.append(a)
    fixed = str(ipaddress.ip_network(v6)[0x42])
    ok(
        stack.run_docker(
            "run", "-d", "--name", a, "--network", net, "--ip6", fixed, busybox, "sleep", "300"
        )
    )
    entry = inspect(stack, a)["NetworkSettings"]["Networks"][net]
    assert entry["GlobalIPv6Address"] == fixed and entry["GlobalIPv6PrefixLen"] == 64
    assert entry["IPv6Gateway"] == gw6 and entry["IPAMConfig"]["IPv6Address"] == fixed
    assert ipaddress.ip_address(entry["IPAddress"]) in ipaddress.ip_network(v4)
    shown = ok(stack.run_docker("exec", a, "ip", "-6", "addr", "show", "eth0"))
    assert f"{fixed}/64" in shown
    assert f"default via {gw6}" in ok(stack.run_docker("exec", a, "ip", "-6", "route"))
    out = ok(
        stack.run_docker("run", "--rm", "--network", net, busybox, "ping", "-6", "-c1", "-W2", a)
    )
    assert fixed in out
    looked = ok(
        stack.run_docker("run", "--rm", "--network", net, busybox, "nslookup", "-type=AAAA", a)
    )
    assert fixed in looked
    hosts = ok(stack.run_docker("exec", a, "cat", "/etc/hosts"))
    assert f"{fixed}\t" in hosts and f"{entry['IPAddress']}\t" in hosts


def test_ipv6_without_subnet_picks_a_ula(stack: Stack, cleanup: list[str]) -> None:
    """Current Docker: --ipv6 alone takes a /64 of a unique local prefix."""
    net = unique("hgw-ula")
    cleanup.append(net)
    ok(stack.run_docker("network", "create", "--ipv6", net))
    six = [c for c in inspect(stack, net)["IPAM"]["Config"] if ":" in c["Subnet"]]
    assert len(six) == 1
    subnet = ipaddress.ip_network(six[0]["Subnet"])
    assert subnet.prefixlen == 64 and subnet.subnet_of(ipaddress.ip_network("fd00::/8"))  # type: ignore[arg-type]


def test_fixed_addresses_need_a_configured_subnet(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    pooled = unique("hgw-pool")
    cleanup.append(pooled)
    ok(stack.run_docker("network", "create", pooled))
    subnet = ipaddress.ip_network(inspect(stack, pooled)["IPAM"]["Config"][0]["Subnet"])
    run = stack.run_docker(
        "run", "--rm", "--network", pooled, "--ip", str(subnet[9]), busybox, "true"
    )
    assert run.returncode == 125
    assert (
        "user specified IP address is supported only when connecting to networks with user "
        "configured subnets"
    ) in run.stderr
    six = stack.run_docker(
        "run", "--rm", "--network", pooled, "--ip6", "fd42:4802::9", busybox, "true"
    )
    assert six.returncode == 125 and "user configured subnets" in six.stderr


def test_one_subnet_per_family_and_aux_addresses(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    net = unique("hgw-aux")
    third = _third()
    a, b = f"10.220.{third}.0/24", f"10.220.{third + 1}.0/24"
    two = stack.run_docker("network", "create", "--subnet", a, "--subnet", b, net)
    assert two.returncode != 0 and "bridge driver doesn't support multiple subnets" in two.stderr
    assert stack.run_docker("network", "inspect", net).returncode != 0
    base = ipaddress.ip_network(a)
    cleanup.append(net)
    ok(
        stack.run_docker(
            "network", "create", "--subnet", a, "--aux-address", f"router={base[2]}", net
        )
    )
    config = inspect(stack, net)["IPAM"]["Config"][0]
    assert config["AuxiliaryAddresses"] == {"router": str(base[2])}
    out = ok(
        stack.run_docker(
            "run", "--rm", "--network", net, busybox, "ip", "-4", "-o", "addr", "show", "eth0"
        )
    )
    assert f"{base[3]}/24" in out  # .1 gateway, .2 reserved


def test_add_host_host_gateway(stack: Stack, busybox: str) -> None:
    """host-gateway stands for the default bridge's gateway, as dockerd's
    host-gateway-ip defaults to."""
    gateway = inspect(stack, "bridge")["IPAM"]["Config"][0]["Gateway"]
    hosts = ok(
        stack.run_docker(
            "run",
            "--rm",
            "--add-host",
            "host.docker.internal:host-gateway",
            busybox,
            "cat",
            "/etc/hosts",
        )
    )
    assert f"{gateway}\thost.docker.internal" in hosts.splitlines()


def test_dns_flag_keeps_container_names(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    """--dns on a user network: the container still resolves its peers (the
    network's resolver answers them and forwards only the rest to --dns)."""
    net, peer = unique("hgw-dns"), unique("peer")
    cleanup += [net, peer]
    ok(stack.run_docker("network", "create", net))
    ok(stack.run_docker("run", "-d", "--name", peer, "--network", net, busybox, "sleep", "300"))
    ip = inspect(stack, peer)["NetworkSettings"]["Networks"][net]["IPAddress"]
    with_dns = ["run", "--rm", "--network", net, "--dns", "127.0.0.9", busybox]
    resolv = ok(stack.run_docker(*with_dns, "cat", "/etc/resolv.conf"))
    # Docker's embedded resolver address, in the container's namespace
    assert "nameserver 127.0.0.11\n" in resolv and "127.0.0.9" not in resolv
    found = ok(stack.run_docker(*with_dns, "nslookup", peer))
    assert ip in found.split("Name:", 1)[1]
    # Other names go to the --dns server: nothing listens there, so the
    # resolver answers SERVFAIL (busybox: "no servers could be reached").
    far = stack.run_docker(*with_dns, "nslookup", "far.away.test")
    assert far.returncode != 0 and ip not in far.stdout
    searched = ok(
        stack.run_docker(
            "run",
            "--rm",
            "--network",
            net,
            "--dns-search",
            "corp.test",
            busybox,
            "cat",
            "/etc/resolv.conf",
        )
    )
    assert "search corp.test" in searched and "nameserver 127.0.0.11" in searched


def test_docker_py_dual_stack(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    from docker.types import IPAMConfig, IPAMPool

    client = docker.DockerClient(base_url=f"unix://{stack.docker_socket}")
    v4, v6 = subnets()
    name = unique("hgw-py6")
    cleanup.append(name)
    net = client.networks.create(
        name,
        enable_ipv6=True,
        ipam=IPAMConfig(pool_configs=[IPAMPool(subnet=v4), IPAMPool(subnet=v6)]),
    )
    cname = unique("py6")
    container = client.containers.create(busybox, ["sleep", "300"], name=cname)
    cleanup.append(cname)
    fixed = str(ipaddress.ip_network(v6)[0x77])
    net.connect(container, ipv6_address=fixed)
    container.start()
    container.reload()
    entry = container.attrs["NetworkSettings"]["Networks"][name]
    assert entry["GlobalIPv6Address"] == fixed
    net.reload()
    assert net.attrs["EnableIPv6"] is True and len(net.attrs["IPAM"]["Config"]) == 2
    client.close()


def test_links_on_the_default_bridge_and_on_a_user_network(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    """`--link name:alias`: on the default bridge a hosts line `ip alias
    hostname name` (dockerd's legacy links); on a user network a name that
    only the linking container resolves (the embedded DNS's link alias)."""
    peer = unique("lnk")
    cleanup.append(peer)
    ok(stack.run_docker("run", "-d", "--name", peer, busybox, "sleep", "300"))
    doc = inspect(stack, peer)
    ip, hostname = (
        doc["NetworkSettings"]["Networks"]["bridge"]["IPAddress"],
        doc["Config"]["Hostname"],
    )
    hosts = ok(
        stack.run_docker("run", "--rm", "--link", f"{peer}:db", busybox, "cat", "/etc/hosts")
    )
    assert f"{ip}\tdb {hostname} {peer}" in hosts.splitlines()
    ok(stack.run_docker("run", "--rm", "--link", f"{peer}:db", busybox, "ping", "-c1", "-W2", "db"))

    net, target = unique("hgw-lnk"), unique("lnkt")
    cleanup += [net, target]
    ok(stack.run_docker("network", "create", net))
    ok(stack.run_docker("run", "-d", "--name", target, "--network", net, busybox, "sleep", "300"))
    target_ip = inspect(stack, target)["NetworkSettings"]["Networks"][net]["IPAddress"]
    # --dns on loopback: a name the resolver does not know goes nowhere else
    base = ["run", "--rm", "--network", net, "--dns", "127.0.0.9"]
    found = ok(stack.run_docker(*base, "--link", f"{target}:pdb", busybox, "nslookup", "pdb"))
    assert target_ip in found.split("Name:", 1)[1]
    other = stack.run_docker(*base, busybox, "nslookup", "pdb")
    assert other.returncode != 0 and target_ip not in other.stdout


def test_mac_address(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    """--mac-address is the interface's MAC; without it Docker's 02:42 and
    the four IPv4 bytes."""
    net, name = unique("hgw-mac"), unique("mac")
    cleanup += [net, name]
    ok(stack.run_docker("network", "create", net))
    ok(
        stack.run_docker(
            "run",
            "-d",
            "--name",
            name,
            "--network",
            net,
            "--mac-address",
            "02:42:ac:dc:00:99",
            busybox,
            "sleep",
            "300",
        )
    )
    assert ok(stack.run_docker("exec", name, "cat", "/sys/class/net/eth0/address")).strip() == (
        "02:42:ac:dc:00:99"
    )
    assert (
        inspect(stack, name)["NetworkSettings"]["Networks"][net]["MacAddress"]
        == "02:42:ac:dc:00:99"
    )
    plain = ok(
        stack.run_docker(
            "run",
            "--rm",
            "--network",
            net,
            busybox,
            "sh",
            "-c",
            "cat /sys/class/net/eth0/address; ip -4 -o addr show eth0",
        )
    )
    mac, addr_line = plain.splitlines()
    ip = ipaddress.ip_address(addr_line.split()[3].split("/")[0])
    assert mac == "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)


def test_daemon_dns_is_the_default(stack: Stack, busybox: str) -> None:
    """The stack runs with HANGU_DNS=127.0.0.1 (dockerd's daemon --dns): a
    container on the default bridge without --dns gets it; --dns wins."""
    plain = ok(stack.run_docker("run", "--rm", busybox, "cat", "/etc/resolv.conf"))
    assert "nameserver 127.0.0.1" in plain.splitlines()
    own = ok(
        stack.run_docker("run", "--rm", "--dns", "127.0.0.7", busybox, "cat", "/etc/resolv.conf")
    )
    assert "nameserver 127.0.0.7" in own.splitlines() and "nameserver 127.0.0.1" not in own


def test_several_endpoints_at_create(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    """API 1.44 on (compose v2 sends it): one create with EndpointsConfig
    for two networks attaches both; the first is eth0 with the default
    route, the other eth1, each with its aliases and driver options."""
    one, two = unique("hgw-ep1"), unique("hgw-ep2")
    cleanup += [one, two]
    for net in (one, two):
        ok(stack.run_docker("network", "create", net))
    api = docker.APIClient(base_url=f"unix://{stack.docker_socket}", version="1.44")
    try:
        name = unique("multi")
        cleanup.append(name)
        api.create_container(
            busybox,
            ["sleep", "300"],
            name=name,
            host_config=api.create_host_config(network_mode=one),
            networking_config={
                "EndpointsConfig": {
                    one: {"Aliases": ["first"]},
                    two: {"Aliases": ["second"], "DriverOpts": {"x.hangu.test": "1"}},
                }
            },
        )
        api.start(name)
    finally:
        api.close()
    nets = inspect(stack, name)["NetworkSettings"]["Networks"]
    assert set(nets) == {one, two}
    assert "first" in nets[one]["Aliases"] and "second" in nets[two]["Aliases"]
    assert nets[two]["DriverOpts"] == {"x.hangu.test": "1"}
    shown = {
        line.split()[1]: line.split()[3].split("/")[0]
        for line in ok(stack.run_docker("exec", name, "ip", "-4", "-o", "addr")).splitlines()
    }
    assert shown["eth0"] == nets[one]["IPAddress"] and shown["eth1"] == nets[two]["IPAddress"]
    route = ok(stack.run_docker("exec", name, "ip", "route", "show", "default"))
    assert f"via {nets[one]['Gateway']} dev eth0" in route
    peer = ok(stack.run_docker("run", "--rm", "--network", two, busybox, "nslookup", "second"))
    assert nets[two]["IPAddress"] in peer.split("Name:", 1)[1]


def test_host_binding_ipv4_of_a_network(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    """--opt com.docker.network.bridge.host_binding_ipv4=127.0.0.1: a port
    published without an address binds there only (dockerd's option)."""
    import urllib.request

    net, web = unique("hgw-bind"), unique("bind")
    cleanup += [net, web]
    opt = "com.docker.network.bridge.host_binding_ipv4=127.0.0.1"
    ok(stack.run_docker("network", "create", "--opt", opt, net))
    ok(
        stack.run_docker(
            "run",
            "-d",
            "--name",
            web,
            "--network",
            net,
            "-p",
            "21760:80",
            busybox,
            "sh",
            "-c",
            "echo bound > /index.html; httpd -f -p 80 -h /",
        )
    )
    assert ok(stack.run_docker("port", web)).strip() == "80/tcp -> 127.0.0.1:21760"
    for _ in range(50):
        try:
            with urllib.request.urlopen("http://127.0.0.1:21760/", timeout=2) as resp:
                assert resp.read().strip() == b"bound"
                break
        except OSError:
            time.sleep(0.1)
    else:
        raise AssertionError("the published port never answered")


def networks_and_a_name(stack: Stack, cleanup: list[str], tag: str) -> tuple[str, str, str]:
    """Two new networks and a container name, all removed afterwards."""
    net, other, name = unique(f"hgw-{tag}"), unique(f"hgw-{tag}2"), unique(tag)
    cleanup += [net, other]
    for created in (net, other):
        ok(stack.run_docker("network", "create", created))
    cleanup.append(name)
    return net, other, name


def test_link_local_ips(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    """--link-local-ip at run and at connect: each address is on the
    interface (/16, /64 for IPv6, as dockerd adds them) and in
    IPAMConfig.LinkLocalIPs, next to the network's own address."""
    net, other, a = networks_and_a_name(stack, cleanup, "ll")
    ok(
        stack.run_docker(
            "run",
            "-d",
            "--name",
            a,
            "--network",
            net,
            "--link-local-ip",
            "169.254.7.7",
            busybox,
            "sleep",
            "300",
        )
    )
    ok(
        stack.run_docker(
            "network",
            "connect",
            "--link-local-ip",
            "169.254.8.8",
            "--link-local-ip",
            "fe80::8:8",
            other,
            a,
        )
    )
    nets = inspect(stack, a)["NetworkSettings"]["Networks"]
    assert nets[net]["IPAMConfig"]["LinkLocalIPs"] == ["169.254.7.7"]
    assert nets[other]["IPAMConfig"]["LinkLocalIPs"] == ["169.254.8.8", "fe80::8:8"]
    eth0 = ok(stack.run_docker("exec", a, "ip", "addr", "show", "eth0"))
    assert "inet 169.254.7.7/16" in eth0 and f"inet {nets[net]['IPAddress']}/" in eth0
    eth1 = ok(stack.run_docker("exec", a, "ip", "addr", "show", "eth1"))
    assert "inet 169.254.8.8/16" in eth1 and "inet6 fe80::8:8/64" in eth1
    bad = stack.run_docker("create", "--network", net, "--link-local-ip", "nope", busybox, "true")
    assert bad.returncode != 0 and "invalid link-local IP address: nope" in bad.stderr


def test_endpoint_sysctls_driver_option(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    """--driver-opt com.docker.network.endpoint.sysctls (API 1.46): each
    assignment is written for that interface inside the container, IFNAME
    standing for its name (also lowercased, as the CLI's --network long form
    sends it); a key that is not a per-interface one is refused before the
    container exists."""
    net, other, a = networks_and_a_name(stack, cleanup, "sc")
    opt = "com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.log_martians=1"
    ok(
        stack.run_docker(
            "run",
            "-d",
            "--name",
            a,
            "--network",
            f"name={net},driver-opt={opt}",
            busybox,
            "sleep",
            "300",
        )
    )
    assert (
        ok(stack.run_docker("exec", a, "cat", "/proc/sys/net/ipv4/conf/eth0/log_martians")) == "1\n"
    )
    ok(
        stack.run_docker(
            "network",
            "connect",
            "--driver-opt",
            # Quoted as CSV: the CLI splits --driver-opt on commas.
            '"com.docker.network.endpoint.sysctls=net.ipv4.conf.IFNAME.arp_ignore=2,'
            'net.ipv4.conf.IFNAME.rp_filter=2"',
            other,
            a,
        )
    )
    read = ok(
        stack.run_docker(
            "exec",
            a,
            "cat",
            "/proc/sys/net/ipv4/conf/eth1/arp_ignore",
            "/proc/sys/net/ipv4/conf/eth1/rp_filter",
        )
    )
    assert read.split() == ["2", "2"]
    opts = inspect(stack, a)["NetworkSettings"]["Networks"][other]["DriverOpts"]
    assert opts["com.docker.network.endpoint.sysctls"].startswith("net.ipv4.conf.IFNAME.arp_ignore")
    bad = stack.run_docker(
        "create",
        "--network",
        f"name={net},driver-opt=com.docker.network.endpoint.sysctls=net.ipv4.ip_forward=1",
        busybox,
        "true",
    )
    assert bad.returncode != 0 and "invalid sysctl 'net.ipv4.ip_forward=1'" in bad.stderr


def default_gateway(stack: Stack, container: str) -> str:
    """The gateway of the container's IPv4 default route."""
    routes = ok(stack.run_docker("exec", container, "ip", "-4", "route")).splitlines()
    return next(r for r in routes if r.startswith("default")).split()[2]


def test_default_routes_follow_the_network_that_sorts_first(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    """dockerd gives a container its default routes through the network
    (not internal) whose name sorts first, whatever the connect order
    (checked against dockerd 20.10): connecting one that sorts before moves
    them to it, disconnecting it moves them back, and one that sorts after
    leaves them alone."""
    tag = secrets.token_hex(2)
    first, middle, last = f"hgw-a{tag}", f"hgw-m{tag}", f"hgw-z{tag}"
    cleanup += [first, middle, last]
    gateways = {}
    for net in (first, middle, last):
        ok(stack.run_docker("network", "create", net))
        gateways[net] = inspect(stack, net)["IPAM"]["Config"][0]["Gateway"]
    a = unique("gw")
    cleanup.append(a)
    ok(stack.run_docker("run", "-d", "--name", a, "--network", middle, busybox, "sleep", "300"))

    def default() -> str:
        return default_gateway(stack, a)

    assert default() == gateways[middle]
    ok(stack.run_docker("network", "connect", last, a))
    assert default() == gateways[middle]
    ok(stack.run_docker("network", "connect", first, a))
    assert default() == gateways[first]
    ok(stack.run_docker("network", "disconnect", first, a))
    assert default() == gateways[middle]
    ok(stack.run_docker("network", "disconnect", middle, a))
    assert default() == gateways[last]


def test_gw_priority_picks_the_default_routes(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    """API 1.48's GwPriority: the endpoint of highest priority gives the
    default routes, whatever the names sort to; shown in inspect for each
    network. At create (`--network name=…,gw-priority=…`) and at connect
    (`--gw-priority`); a value that is not an integer is refused with a 400
    and connects nothing."""
    tag = secrets.token_hex(2)
    first, last = f"hgw-pa{tag}", f"hgw-pz{tag}"
    cleanup += [first, last]
    gateways = {}
    for net in (first, last):
        ok(stack.run_docker("network", "create", net))
        gateways[net] = inspect(stack, net)["IPAM"]["Config"][0]["Gateway"]
    a, b = unique("prio"), unique("prio")
    cleanup += [a, b]

    def priorities(name: str) -> dict[str, int]:
        nets = inspect(stack, name)["NetworkSettings"]["Networks"]
        return {n: v["GwPriority"] for n, v in nets.items()}

    # At connect: the last name, with a priority, takes them over; its
    # disconnect gives them back.
    ok(stack.run_docker("run", "-d", "--name", a, "--network", first, busybox, "sleep", "300"))
    ok(stack.run_docker("network", "connect", "--gw-priority", "10", last, a))
    assert default_gateway(stack, a) == gateways[last]
    assert priorities(a) == {first: 0, last: 10}
    ok(stack.run_docker("network", "disconnect", last, a))
    assert default_gateway(stack, a) == gateways[first]
    # A negative one loses to the default 0 even when its name sorts first.
    ok(stack.run_docker("network", "connect", last, a))
    ok(stack.run_docker("network", "disconnect", first, a))
    ok(stack.run_docker("network", "connect", "--gw-priority", "-1", first, a))
    assert default_gateway(stack, a) == gateways[last]

    # At create, several networks at once (EndpointsConfig, API 1.44+).
    two_networks = ["--network", first, "--network", f"name={last},gw-priority=5"]
    ok(stack.run_docker("run", "-d", "--name", b, *two_networks, busybox, "sleep", "300"))
    assert default_gateway(stack, b) == gateways[last]
    assert priorities(b) == {first: 0, last: 5}
    ok(stack.run_docker("restart", "-t", "0", b))
    assert default_gateway(stack, b) == gateways[last]

    api = stack.docker_client().api
    before = priorities(a)
    for bad in ("high", 1.5, True, 2**63):
        with pytest.raises(docker.errors.APIError) as err:
            api._raise_for_status(
                api._post_json(
                    api._url("/networks/{0}/connect", "bridge"),
                    data={"Container": a, "EndpointConfig": {"GwPriority": bad}},
                )
            )
        response = err.value.response
        assert response is not None and response.status_code == 400, bad
        assert "GwPriority" in response.json()["message"]
    assert priorities(a) == before


def test_ipv6_is_off_on_interfaces_of_ipv4_only_networks(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    """As current dockerd: an interface of a network without IPv6 has IPv6
    disabled (no link-local address either), on the default bridge, a user
    network and a hot-plugged one; an IPv6 network's interface keeps it."""
    v4only, _, name = networks_and_a_name(stack, cleanup, "v6off")
    dual = unique("hgw-v6on")
    cleanup.append(dual)
    ok(stack.run_docker("network", "create", "--ipv6", "--subnet", subnets()[1], dual))
    ok(stack.run_docker("run", "-d", "--name", name, busybox, "sleep", "300"))
    ok(stack.run_docker("network", "connect", v4only, name))
    ok(stack.run_docker("network", "connect", dual, name))

    def ipv6_state(ifname: str) -> tuple[str, str]:
        flag = ok(
            stack.run_docker("exec", name, "cat", f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
        )
        addrs = ok(stack.run_docker("exec", name, "ip", "-6", "-o", "addr", "show", "dev", ifname))
        return flag.strip(), addrs

    for ifname in ("eth0", "eth1"):
        flag, addrs = ipv6_state(ifname)
        assert flag == "1" and addrs.strip() == "", (ifname, addrs)
    flag, addrs = ipv6_state("eth2")
    assert flag == "0" and "scope global" in addrs
