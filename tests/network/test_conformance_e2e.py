"""Network answers compared with a real dockerd's, through the whole stack
with the real docker CLI and docker-py: driver options and IPAM configs
refused in dockerd's words (and nothing made), /etc/hosts with a line per
endpoint, resolv.conf's ndots on user networks, 403 for removing a network
in use, the `type` filter, inspect's `scope`, inspect shapes, and the
resolver's `<container>.<network>` and reverse answers.

Stack: bridge hgq<rand>, table hgq_<rand>, pool 10.233.0.0/16 in /24s, root
/tmp/hgt-cnf-*; explicit subnets in 10.234.0.0/16; no published ports."""

from __future__ import annotations

import ipaddress
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from tests.support.dockercli import ok
from tests.support.stack import Stack, inspect, module_stack, unique

pytestmark = [pytest.mark.root, pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from module_stack("cnf", bridge_prefix="hgq", subnet_pool="10.233.0.0/16:24")


def subnet() -> str:
    return f"10.234.{secrets.randbelow(250) + 1}.0/24"


def network_names(stack: Stack) -> list[str]:
    return ok(stack.run_docker("network", "ls", "--format", "{{.Name}}")).split()


def refused(stack: Stack, *args: str) -> str:
    """A `docker network create` that must fail and leave no network."""
    name = args[-1]
    run = stack.run_docker("network", "create", *args)
    assert run.returncode != 0, run.stdout
    assert "Traceback" not in run.stderr and "Error response from daemon" in run.stderr
    assert name not in network_names(stack)
    return str(run.stderr)


def api_status(call: Any, *args: Any, **kwargs: Any) -> tuple[int, str]:
    with pytest.raises(docker.errors.APIError) as err:
        call(*args, **kwargs)
    return err.value.status_code or 0, str(err.value.explanation)


# -- 1. driver options -------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("com.docker.network.driver.mtu", "abc", 'strconv.Atoi: parsing "abc": invalid syntax'),
        (
            "com.docker.network.bridge.enable_icc",
            "maybe",
            'strconv.ParseBool: parsing "maybe": invalid syntax',
        ),
        (
            "com.docker.network.bridge.enable_ip_masquerade",
            "sometimes",
            'strconv.ParseBool: parsing "sometimes": invalid syntax',
        ),
        ("com.docker.network.bridge.host_binding_ipv4", "notip", "nil ip"),
    ],
)
def test_bad_driver_options_are_refused(stack: Stack, option: str, value: str, why: str) -> None:
    net = unique("hgq-opt")
    err = refused(stack, "-o", f"{option}={value}", net)
    assert f"failed to parse {option} value: {value} ({why})" in err
    client = stack.docker_client()
    status, _ = api_status(client.api.create_network, net, options={option: value})
    assert status == 400
    assert net not in network_names(stack)


def test_mtu_out_of_the_kernels_range_is_refused(stack: Stack) -> None:
    for value in ("70000", "60"):
        net = unique("hgq-mtu")
        err = refused(stack, "-o", f"com.docker.network.driver.mtu={value}", net)
        assert f"invalid MTU number: {value}" in err


def test_good_driver_options_still_work(stack: Stack, cleanup: list[str]) -> None:
    """Go's spellings of a boolean and a numeric MTU are accepted, as dockerd."""
    net = unique("hgq-optok")
    cleanup.append(net)
    ok(
        stack.run_docker(
            "network",
            "create",
            "-o",
            "com.docker.network.driver.mtu=1400",
            "-o",
            "com.docker.network.bridge.enable_icc=False",
            "-o",
            "com.docker.network.bridge.host_binding_ipv4=127.0.0.1",
            net,
        )
    )
    bridge = "br-" + inspect(stack, net)["Id"][:12]
    shown = subprocess.run(
        ["ip", "link", "show", bridge], capture_output=True, text=True, check=True
    ).stdout
    assert "mtu 1400" in shown


# -- 2. IPAM configs --------------------------------------------------------
def test_gateway_at_the_network_address_is_refused(stack: Stack) -> None:
    net = unique("hgq-gw")
    base = ipaddress.ip_network(subnet())
    err = refused(stack, "--subnet", str(base), "--gateway", str(base.network_address), net)
    assert f"failed to allocate gateway ({base.network_address})" in err
    client = stack.docker_client()
    pool = docker.types.IPAMPool(subnet=str(base), gateway=str(base.network_address))
    status, _ = api_status(
        client.api.create_network, net, ipam=docker.types.IPAMConfig(pool_configs=[pool])
    )
    assert status == 400


def test_subnet_must_be_canonical(stack: Stack) -> None:
    net = unique("hgq-sub")
    base = ipaddress.ip_network(subnet())
    shifted = f"{base.network_address + 5}/24"
    err = refused(stack, "--subnet", shifted, net)
    assert f"invalid network config:\ninvalid subnet {shifted}: it should be {base}" in err
    six = "fd42:4802:77::5/64"
    err = refused(stack, "--ipv6", "--subnet", str(base), "--subnet", six, net)
    assert f"invalid subnet {six}: it should be fd42:4802:77::/64" in err
    client = stack.docker_client()
    pool = docker.types.IPAMPool(subnet=shifted)
    status, message = api_status(
        client.api.create_network, net, ipam=docker.types.IPAMConfig(pool_configs=[pool])
    )
    assert status == 400
    assert message == f"invalid network config:\ninvalid subnet {shifted}: it should be {base}"


# -- 3. /etc/hosts -------------------------------------------------------------
def hosts_lines(stack: Stack, name: str) -> list[str]:
    return ok(stack.run_docker("exec", name, "cat", "/etc/hosts")).splitlines()


def test_hosts_has_a_line_per_endpoint(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    a, b, c = (unique("hgq-h") for _ in range(3))
    box = unique("hgq-hb")
    cleanup += [a, b, c, box]
    for net in (a, b, c):
        ok(stack.run_docker("network", "create", net))
    ok(
        stack.run_docker(
            "create", "--name", box, "--hostname", "hb", "--network", a, busybox, "sleep", "300"
        )
    )
    ok(stack.run_docker("network", "connect", b, box))
    ok(stack.run_docker("start", box))
    nets = inspect(stack, box)["NetworkSettings"]["Networks"]
    ip_a, ip_b = nets[a]["IPAddress"], nets[b]["IPAddress"]
    before = hosts_lines(stack, box)
    assert before[-2:] == [f"{ip_a}\thb", f"{ip_b}\thb"]
    # a hot-plug appends its line; the first endpoint's stays as it was
    ok(stack.run_docker("network", "connect", c, box))
    ip_c = inspect(stack, box)["NetworkSettings"]["Networks"][c]["IPAddress"]
    assert hosts_lines(stack, box) == [*before, f"{ip_c}\thb"]
    # a disconnect takes its line away
    ok(stack.run_docker("network", "disconnect", b, box))
    assert hosts_lines(stack, box) == [*before[:-1], f"{ip_c}\thb"]


# -- 4. resolv.conf --------------------------------------------------------------
def resolv_options(stack: Stack, busybox: str, *args: str) -> list[str]:
    text = ok(stack.run_docker("run", "--rm", *args, busybox, "cat", "/etc/resolv.conf"))
    return [line for line in text.splitlines() if line.startswith("options")]


def test_resolv_conf_ndots_on_user_networks(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    net = unique("hgq-dns")
    cleanup.append(net)
    ok(stack.run_docker("network", "create", net))
    on = ("--network", net)
    assert "ndots:0" in resolv_options(stack, busybox, *on)[-1].split()
    assert resolv_options(stack, busybox, *on, "--dns-option", "ndots:2") == ["options ndots:2"]
    assert resolv_options(stack, busybox, *on, "--dns-option", "use-vc") == [
        "options use-vc ndots:0"
    ]
    # the default bridge has no embedded DNS: no ndots of ours
    assert not any("ndots:0" in line for line in resolv_options(stack, busybox))


# -- 5. removing a network in use ------------------------------------------------
def test_removing_a_network_in_use_is_403(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    net, box = unique("hgq-busy"), unique("hgq-busyc")
    cleanup += [net, box]
    ok(stack.run_docker("network", "create", net))
    ok(stack.run_docker("run", "-d", "--name", box, "--network", net, busybox, "sleep", "300"))
    client = stack.docker_client()
    status, message = api_status(client.api.remove_network, net)
    assert status == 403 and "has active endpoints" in message
    run = stack.run_docker("network", "rm", net)
    assert run.returncode != 0 and "has active endpoints" in run.stderr
    assert net in network_names(stack)


# -- 6. the type filter -----------------------------------------------------------
def test_unknown_type_filter_is_refused(stack: Stack) -> None:
    run = stack.run_docker("network", "ls", "--filter", "type=foo")
    assert run.returncode != 0
    assert "invalid filter: 'type'='foo'" in run.stderr
    status, message = api_status(stack.docker_client().api.networks, filters={"type": "foo"})
    assert status == 400 and message == "invalid filter: 'type'='foo'"
    builtin = ok(stack.run_docker("network", "ls", "--filter", "type=builtin", "-q"))
    assert len(builtin.split()) == 3


# -- 7. inspect with a scope ------------------------------------------------------
def test_inspect_scope_must_match(stack: Stack, cleanup: list[str]) -> None:
    net = unique("hgq-scope")
    cleanup.append(net)
    nid = ok(stack.run_docker("network", "create", net)).strip()
    api = stack.docker_client().api
    assert api.inspect_network(net, scope="local")["Id"] == nid
    for scope in ("swarm", "global"):
        status, message = api_status(api.inspect_network, net, scope=scope)
        assert (status, message) == (404, f"network {net} not found")


# -- 8. inspect shapes -------------------------------------------------------------
def test_inspect_shapes(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    net, box = unique("hgq-shape"), unique("hgq-shapec")
    cleanup += [net, box]
    base = ipaddress.ip_network(subnet())
    ok(stack.run_docker("network", "create", "--subnet", str(base), net))
    assert inspect(stack, net)["IPAM"]["Options"] == {}
    # the config as given (dockerd): no gateway unless asked for or picked
    assert inspect(stack, net)["IPAM"]["Config"] == [{"Subnet": str(base)}]
    picked, gated = unique("hgq-shapep"), unique("hgq-shapeg")
    cleanup += [picked, gated]
    ok(stack.run_docker("network", "create", picked))
    assert set(inspect(stack, picked)["IPAM"]["Config"][0]) == {"Subnet", "Gateway"}
    other_base = ipaddress.ip_network(subnet())
    while other_base.overlaps(base):
        other_base = ipaddress.ip_network(subnet())
    gw = str(other_base.network_address + 7)
    ok(stack.run_docker("network", "create", "--subnet", str(other_base), "--gateway", gw, gated))
    assert inspect(stack, gated)["IPAM"]["Config"] == [{"Subnet": str(other_base), "Gateway": gw}]
    fixed = str(base.network_address + 9)
    ok(
        stack.run_docker(
            "create", "--name", box, "--network", net, "--ip", fixed, busybox, "sleep", "300"
        )
    )
    entry = inspect(stack, box)["NetworkSettings"]["Networks"][net]
    assert entry["IPAMConfig"] == {"IPv4Address": fixed}
    other = unique("hgq-shapeb")
    cleanup.insert(0, other)
    ok(stack.run_docker("create", "--name", other, "--network", net, busybox, "true"))
    assert inspect(stack, other)["NetworkSettings"]["Networks"][net]["IPAMConfig"] is None


# -- 9. the resolver: <container>.<network> and reverse lookups --------------------
def nslookup(stack: Stack, box: str, name: str) -> str:
    return ok(stack.run_docker("exec", box, "timeout", "5", "nslookup", name))


def test_resolver_answers_qualified_and_reverse_names(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    first, second = unique("hgq-nd"), unique("hgq-ne")
    d1, d2 = unique("hgq-d1"), unique("hgq-d2")
    cleanup += [first, second, d1, d2]
    for net in (first, second):
        ok(stack.run_docker("network", "create", net))
    ok(stack.run_docker("run", "-d", "--name", d1, "--network", second, busybox, "sleep", "300"))
    # --dns on a loopback address nobody serves: what the resolver does not
    # answer itself fails at once instead of leaving the host
    quiet = ("--dns", "127.0.0.9")
    ok(
        stack.run_docker(
            "run", "-d", "--name", d2, *quiet, "--network", first, busybox, "sleep", "300"
        )
    )
    ok(stack.run_docker("network", "connect", second, d2))
    ip_d1 = inspect(stack, d1)["NetworkSettings"]["Networks"][second]["IPAddress"]
    # d2 asks the resolver of its first network about a name on its second
    assert ip_d1 in nslookup(stack, d2, f"{d1}.{second}")
    assert f"name = {d1}.{second}" in nslookup(stack, d2, ip_d1)
    # not a network d1's asker is on: no answer of ours
    lone = unique("hgq-lone")
    cleanup.insert(0, lone)
    ok(
        stack.run_docker(
            "run", "-d", "--name", lone, *quiet, "--network", first, busybox, "sleep", "300"
        )
    )
    miss = stack.run_docker("exec", lone, "timeout", "5", "nslookup", f"{d1}.{second}")
    assert ip_d1 not in miss.stdout


# -- 10. host and none: endpoints, sandbox keys, connect after leaving none ------
def test_host_and_none_containers_have_endpoints(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    on_host, on_none, base, shared = (unique(f"hgq-{m}") for m in ("hm", "nm", "bm", "cm"))
    cleanup += [shared, on_host, on_none, base]
    for name, mode in ((on_host, "host"), (on_none, "none"), (base, "bridge")):
        ok(
            stack.run_docker(
                "run", "-d", "--name", name, "--network", mode, busybox, "sleep", "300"
            )
        )
    ok(
        stack.run_docker(
            "run", "-d", "--name", shared, "--network", f"container:{base}", busybox, "sleep", "300"
        )
    )
    for name, network in ((on_host, "host"), (on_none, "none")):
        settings = inspect(stack, name)["NetworkSettings"]
        endpoint = settings["Networks"][network]["EndpointID"]
        assert len(endpoint) == 64
        members = inspect(stack, network)["Containers"]
        cid = inspect(stack, name)["Id"]
        assert members[cid]["Name"] == name and members[cid]["EndpointID"] == endpoint
        assert members[cid]["IPv4Address"] == "" and members[cid]["MacAddress"] == ""
        assert settings["SandboxID"] == cid
    # host mode: the host's namespace, bound as dockerd's netns/default
    key = inspect(stack, on_host)["NetworkSettings"]["SandboxKey"]
    assert key.endswith("/netns/default")
    host_links = subprocess.run(
        ["nsenter", f"--net={key}", "ip", "-o", "link"], capture_output=True, text=True, check=True
    ).stdout
    assert stack.bridge in host_links
    assert inspect(stack, on_none)["NetworkSettings"]["SandboxKey"].endswith(
        "/netns/" + inspect(stack, on_none)["Id"][:12]
    )
    # container:<x> has no sandbox of its own, as dockerd shows it
    own = inspect(stack, shared)["NetworkSettings"]
    assert (own["SandboxID"], own["SandboxKey"], own["Networks"]) == ("", "", {})
    # once stopped, the key stays (dockerd keeps it); the binding goes with
    # the last host-mode container
    ok(stack.run_docker("rm", "-f", on_host))
    assert not any(key in m for m in stack.mounts())


def test_connect_after_leaving_none(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    created, running = unique("hgq-lc"), unique("hgq-lr")
    cleanup += [created, running]
    ok(stack.run_docker("create", "--name", created, "--network", "none", busybox, "sleep", "300"))
    ok(
        stack.run_docker(
            "run", "-d", "--name", running, "--network", "none", busybox, "sleep", "300"
        )
    )
    for name in (created, running):
        still = stack.run_docker("network", "connect", "bridge", name)
        assert "one of the networks in private (none) mode" in still.stderr
        ok(stack.run_docker("network", "disconnect", "none", name))
        ok(stack.run_docker("network", "connect", "bridge", name))
        # and back: none next to a bridge is refused again
        again = stack.run_docker("network", "connect", "none", name)
        assert "one of the networks in private (none) mode" in again.stderr
    ok(stack.run_docker("start", created))
    for name in (created, running):
        box = inspect(stack, name)
        assert box["HostConfig"]["NetworkMode"] == "none"
        assert list(box["NetworkSettings"]["Networks"]) == ["bridge"]
        address = box["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        assert address and address in ok(stack.run_docker("exec", name, "ip", "-4", "addr"))


def events_of(stack: Stack, since: str, until: str, cid: str) -> list[str]:
    """The container's own events and the network events that name it."""
    form = '{{.Type}} {{.Action}} {{index .Actor.Attributes "signal"}}|{{.Actor.ID}}'
    form += '|{{index .Actor.Attributes "container"}}'
    text = ok(stack.run_docker("events", "--since", since, "--until", until, "--format", form))
    seen = []
    for line in text.splitlines():
        what, actor, container = line.split("|")
        if cid in (actor, container):
            seen.append(what.strip())
    return seen


def test_events_in_dockerds_order(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    net, box, idle, once = (unique(f"hgq-{n}") for n in ("ev", "evc", "evi", "evo"))
    cleanup += [box, idle, net]
    ok(stack.run_docker("network", "create", net))
    since = str(int(time.time()) - 1)
    ok(stack.run_docker("run", "-d", "--name", box, "--network", net, busybox, "sleep", "300"))
    # sleep as pid 1 ignores SIGTERM: stop -t1 ends with a SIGKILL
    ok(stack.run_docker("stop", "-t", "1", box))
    ok(stack.run_docker("run", "--rm", "--name", once, "--network", "none", busybox, "true"))
    # a disconnect is told in any state, a connect only once running
    ok(stack.run_docker("create", "--name", idle, busybox, "true"))
    ok(stack.run_docker("network", "connect", net, idle))
    ok(stack.run_docker("network", "disconnect", net, idle))
    until = str(int(time.time()) + 1)
    assert events_of(stack, since, until, inspect(stack, box)["Id"]) == [
        "container create",
        "network connect",
        "container start",
        "container kill 15",
        "container kill 9",
        "container die",
        "network disconnect",
        "container stop",
    ]
    once_id = ok(
        stack.run_docker(
            "events",
            "--since",
            since,
            "--until",
            until,
            "--filter",
            f"container={once}",
            "--filter",
            "event=destroy",
            "--format",
            "{{.Actor.ID}}",
        )
    ).strip()
    assert events_of(stack, since, until, once_id) == [
        "container create",
        "container attach",
        "network connect",
        "container start",
        "container die",
        "network disconnect",
        "container destroy",
    ]
    assert events_of(stack, since, until, inspect(stack, idle)["Id"]) == [
        "container create",
        "network disconnect",
    ]


# -- 11. configuration-only networks ------------------------------------------------
def test_config_only_and_config_from(stack: Stack, busybox: str, cleanup: list[str]) -> None:
    cfg, made, box, twin = (unique(f"hgq-{n}") for n in ("cfg", "cfm", "cfb", "cft"))
    cleanup += [cfg, made, twin, box]
    base = ipaddress.ip_network(subnet())
    gw = str(base.network_address + 1)
    icc = "com.docker.network.bridge.enable_icc=false"
    ok(
        stack.run_docker(
            "network",
            "create",
            "--config-only",
            "--subnet",
            str(base),
            "--gateway",
            gw,
            "--label",
            "tier=cfg",
            "-o",
            icc,
            cfg,
        )
    )
    doc = inspect(stack, cfg)
    assert (doc["Driver"], doc["ConfigOnly"], doc["ConfigFrom"]) == ("null", True, {"Network": ""})
    assert doc["IPAM"]["Config"] == [{"Subnet": str(base), "Gateway": gw}]
    assert doc["Labels"] == {"tier": "cfg"} and doc["Options"] == {icc.split("=")[0]: "false"}
    # a configuration reserves no subnet: another network may take it
    ok(stack.run_docker("network", "create", "--subnet", str(base), twin))
    ok(stack.run_docker("network", "rm", twin))
    # nothing may run on it: created fine, refused at start as dockerd
    ok(stack.run_docker("create", "--name", box, "--network", cfg, busybox, "true"))
    started = stack.run_docker("start", box)
    assert started.returncode != 0
    assert "cannot create endpoint on configuration-only network" in started.stderr
    # a network made from it takes its IPAM config, options and labels
    ok(stack.run_docker("network", "create", "--config-from", cfg, made))
    doc = inspect(stack, made)
    assert (doc["Driver"], doc["ConfigOnly"], doc["ConfigFrom"]) == (
        "bridge",
        False,
        {"Network": cfg},
    )
    assert doc["IPAM"]["Config"] == [{"Subnet": str(base), "Gateway": gw}]
    assert doc["Labels"] == {"tier": "cfg"} and doc["Options"] == {icc.split("=")[0]: "false"}
    ran = ok(stack.run_docker("run", "--rm", "--network", made, busybox, "ip", "-4", "addr"))
    assert str(base.network_address + 2) in ran
    # refusals in dockerd's words (403 / 404), nothing made
    for args, why in (
        (
            ("--config-from", cfg, "--label", "x=y"),
            "user specified configurations are not supported",
        ),
        (("--config-from", cfg, "-o", icc), "network driver options are not supported"),
        (("--config-from", "hgq-nope"), 'configuration network "hgq-nope" does not exist'),
        (("--config-only", "--internal"), "Network operator fields like"),
        (("--config-only", "--config-from", cfg), "cannot depend on another configuration"),
    ):
        assert why in refused(stack, *args, unique("hgq-cfx"))
    in_use = stack.run_docker("network", "rm", cfg)
    assert f'configuration network "{cfg}" is in use' in in_use.stderr
    # prune keeps it (dockerd's)
    ok(stack.run_docker("network", "rm", made))
    ok(stack.run_docker("rm", box))
    ok(stack.run_docker("network", "prune", "-f"))
    assert cfg in network_names(stack)
    ok(stack.run_docker("network", "rm", cfg))


# -- 12. the resolver at 127.0.0.11 leaves port 53 to the container -------------------
def test_container_dns_server_and_embedded_resolver(
    stack: Stack, busybox: str, cleanup: list[str]
) -> None:
    net, peer = unique("hgq-d53"), unique("hgq-d53p")
    cleanup += [peer, net]
    ok(stack.run_docker("network", "create", net))
    ok(stack.run_docker("run", "-d", "--name", peer, "--network", net, busybox, "sleep", "300"))
    ip = inspect(stack, peer)["NetworkSettings"]["Networks"][net]["IPAddress"]
    # a server of its own on every address's port 53, and names still resolve
    script = "nc -l -p 53 & sleep 0.3; netstat -lnt; cat /etc/resolv.conf; nslookup " + peer
    out = ok(stack.run_docker("run", "--rm", "--network", net, busybox, "sh", "-c", script))
    assert re.search(r":::53\s+:::\*\s+LISTEN", out), out
    assert "nameserver 127.0.0.11\n" in out
    assert ip in out.split("Name:", 1)[1]
