"""User networks through the gRPC API: lifecycle, Docker's errors, sandboxes
on them, connect/disconnect, prune, and IPAM across a service restart."""

from __future__ import annotations

import secrets
import subprocess
import threading
from ipaddress import IPv4Network
from pathlib import Path

import grpc
import pytest

from hangu.network.v1 import network_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb

from .conftest import NetEnv, bridge_gone, link_exists, ns_run, ping

pytestmark = pytest.mark.root


def _err(fn, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as err:
        fn(*args)
    return err.value.code(), err.value.details()


def test_user_network_lifecycle_and_errors(net_env: NetEnv) -> None:
    stub = net_env.stub
    name = "hgnnet-" + secrets.token_hex(3)
    net = stub.Create(pb.CreateNetworkRequest(name=name, labels={"team": "net"}))
    try:
        assert len(net.id) == 64 and net.driver == "bridge"
        assert net.bridge_name == "br-" + net.id[:12] and len(net.bridge_name) <= 15
        assert link_exists(net.bridge_name)
        subnet = IPv4Network(net.ipam.config[0].subnet)
        default = stub.Get(pb.GetNetworkRequest(reference="bridge"))
        assert not subnet.overlaps(IPv4Network(default.ipam.config[0].subnet))
        assert stub.Get(pb.GetNetworkRequest(reference=name)).id == net.id
        assert stub.Get(pb.GetNetworkRequest(reference=net.id[:8])).name == name
        listed = stub.List(
            pb.ListNetworksRequest(filters={"label": tpb.StringList(values=["team=net"])})
        ).networks
        assert [n.name for n in listed] == [name]
        assert _err(stub.Create, pb.CreateNetworkRequest(name=name)) == (
            grpc.StatusCode.ABORTED,
            f"network with name {name} already exists",
        )
        assert _err(stub.Get, pb.GetNetworkRequest(reference="nosuchnet")) == (
            grpc.StatusCode.NOT_FOUND,
            "network nosuchnet not found",
        )
        assert (
            _err(stub.Remove, pb.RemoveNetworkRequest(reference="nosuchnet"))[0]
            == grpc.StatusCode.NOT_FOUND
        )
        for pre in ("bridge", "host", "none"):
            assert _err(stub.Remove, pb.RemoveNetworkRequest(reference=pre)) == (
                grpc.StatusCode.PERMISSION_DENIED,
                f"{pre} is a pre-defined network and cannot be removed",
            )
        assert (
            _err(stub.Create, pb.CreateNetworkRequest(name="x", driver="overlay2x"))[0]
            == grpc.StatusCode.NOT_FOUND
        )
        # in use
        c = secrets.token_hex(32)
        sb = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c, network_mode=name))
        try:
            assert sb.endpoints[0].network_name == name
            assert sb.endpoints[0].ipv4_address == str(subnet.network_address + 2)
            assert ping(sb.netns_path, sb.endpoints[0].gateway)
            assert _err(stub.Remove, pb.RemoveNetworkRequest(reference=name)) == (
                grpc.StatusCode.PERMISSION_DENIED,  # dockerd's 403
                f"error while removing network: network {name} id {net.id} has active endpoints",
            )
            assert name not in stub.Prune(pb.PruneNetworksRequest()).deleted
        finally:
            stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    finally:
        stub.Remove(pb.RemoveNetworkRequest(reference=net.id))
    assert bridge_gone(net.bridge_name)
    assert _err(stub.Get, pb.GetNetworkRequest(reference=name))[0] == grpc.StatusCode.NOT_FOUND
    rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=False).stdout
    assert net.bridge_name not in rules


def test_explicit_subnet_and_overlap(net_env: NetEnv) -> None:
    stub = net_env.stub
    default = IPv4Network(stub.Get(pb.GetNetworkRequest(reference="bridge")).ipam.config[0].subnet)
    assert (
        _err(
            stub.Create,
            pb.CreateNetworkRequest(
                name="hgnov", ipam=pb.IPAM(config=[pb.IPAMConfig(subnet=str(default))])
            ),
        )[0]
        == grpc.StatusCode.PERMISSION_DENIED
    )
    free = next(
        IPv4Network(f"10.201.{i}.0/24")
        for i in range(200, 250)
        if not IPv4Network(f"10.201.{i}.0/24").overlaps(default)
    )
    for bad in (
        pb.IPAMConfig(subnet=str(free), gateway="nope"),
        pb.IPAMConfig(subnet=str(free), gateway="10.9.9.9"),
        pb.IPAMConfig(subnet=str(free), ip_range="10.9.9.0/28"),
        pb.IPAMConfig(subnet="not-a-subnet"),
    ):
        assert (
            _err(stub.Create, pb.CreateNetworkRequest(name="hgnbad", ipam=pb.IPAM(config=[bad])))[0]
            == grpc.StatusCode.INVALID_ARGUMENT
        )
    net = stub.Create(
        pb.CreateNetworkRequest(
            name="hgnsub-" + secrets.token_hex(2),
            options={"com.docker.network.bridge.name": "hgs" + secrets.token_hex(3)},
            ipam=pb.IPAM(
                config=[pb.IPAMConfig(subnet=str(free), gateway=str(free.network_address + 254))]
            ),
        )
    )
    try:
        assert net.ipam.config[0].subnet == str(free)
        assert net.ipam.config[0].gateway == str(free.network_address + 254)
        assert net.bridge_name.startswith("hgs")
    finally:
        stub.Remove(pb.RemoveNetworkRequest(reference=net.name))


def test_connect_disconnect_and_prune(net_env: NetEnv) -> None:
    stub = net_env.stub
    a, b = secrets.token_hex(32), secrets.token_hex(32)
    net = stub.Create(pb.CreateNetworkRequest(name="hgnconn-" + secrets.token_hex(2)))
    sa = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=a))
    sb = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=b, network_mode=net.name))
    try:
        resp = stub.Connect(
            pb.ConnectRequest(container_id=a, endpoint=pb.EndpointRequest(network=net.name))
        )
        ep = resp.endpoint
        assert ep.interface_name == "eth1" and ep.network_id == net.id
        assert [e.network_name for e in resp.attachments.endpoints] == ["bridge", net.name]
        assert ping(sa.netns_path, sb.endpoints[0].ipv4_address)
        got = stub.GetSandbox(pb.GetSandboxRequest(container_id=a))
        assert [e.network_name for e in got.endpoints] == ["bridge", net.name]
        left = stub.Disconnect(pb.DisconnectRequest(container_id=a, network=net.name))
        assert [e.network_name for e in left.attachments.endpoints] == ["bridge"]
        assert "eth1" not in ns_run(sa.netns_path, "ip", "-o", "link").stdout
    finally:
        stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=a))
        stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=b))
    deleted = stub.Prune(pb.PruneNetworksRequest()).deleted
    assert net.name in deleted and "bridge" not in deleted
    assert bridge_gone(net.bridge_name)


def test_allocations_survive_restart(net_env: NetEnv) -> None:
    from hangu_network.sandboxes import SandboxSpec
    from hangu_network.service import NetworkService

    a, b = secrets.token_hex(32), secrets.token_hex(32)
    first = net_env.stub.CreateSandbox(pb.CreateSandboxRequest(container_id=a))
    again = NetworkService(net_env.settings)  # a restarted service on the same root
    try:
        view = again.sandboxes.create(SandboxSpec(container_id=b))
        assert view.endpoints[0][0].ipv4_address != first.endpoints[0].ipv4_address
        assert (
            again.sandboxes.get(a).endpoints[0][0].ipv4_address == first.endpoints[0].ipv4_address
        )
        assert ping(first.netns_path, view.endpoints[0][0].ipv4_address)
        again.sandboxes.remove(b)
    finally:
        again.close()
        net_env.stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=a))


def test_events_and_orphan_reaping(net_env: NetEnv) -> None:
    import time

    from google.protobuf.timestamp_pb2 import Timestamp
    from sqlmodel import Session, select

    from hangu_network.models import AllocationRow, EndpointRow
    from hangu_network.sandboxes import veth_name

    stub = net_env.stub
    start = Timestamp()
    start.FromNanoseconds(time.time_ns() - 1_000_000)
    c = secrets.token_hex(32)
    sb = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c))
    stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
    until = Timestamp()
    until.FromNanoseconds(time.time_ns() + 200_000_000)
    events = list(stub.Events(tpb.EventsRequest(since=start, until=until), timeout=5))
    mine = [
        (e.action, e.attributes["container"]) for e in events if e.attributes.get("container") == c
    ]
    assert mine == [("connect", c), ("disconnect", c)]
    # an endpoint lost between RemoveSandbox and its veth deletion is
    # repaired at start-up: veth deleted, address freed
    service = net_env.service
    c2 = secrets.token_hex(32)
    sb = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c2))
    ep_id = sb.endpoints[0].endpoint_id
    with Session(service.engine) as s:  # type: ignore[attr-defined]
        s.delete(s.exec(select(EndpointRow).where(EndpointRow.id == ep_id)).one())
        s.commit()
    assert link_exists(veth_name(ep_id))
    service.sandboxes.reap_orphans()  # type: ignore[attr-defined]
    assert not link_exists(veth_name(ep_id))
    stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c2))
    with Session(service.engine) as s:  # type: ignore[attr-defined]
        assert (
            s.get(AllocationRow, (sb.endpoints[0].network_id, sb.endpoints[0].ipv4_address)) is None
        )


def test_stale_sandbox_is_recreated(net_env: NetEnv) -> None:
    """After a reboot the namespace files are gone: CreateSandbox starts
    afresh and start-up removes such sandboxes."""
    from hangu_network import netns

    stub = net_env.stub
    c, d = secrets.token_hex(32), secrets.token_hex(32)
    first = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c))
    stub.CreateSandbox(pb.CreateSandboxRequest(container_id=d))
    netns.remove(Path(first.netns_path))  # as a reboot would
    again = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c))
    assert netns.is_bound(Path(again.netns_path))
    assert again.endpoints[0].endpoint_id != first.endpoints[0].endpoint_id
    view = stub.GetSandbox(pb.GetSandboxRequest(container_id=d))
    netns.remove(Path(view.netns_path))
    net_env.service.sandboxes.reap_orphans()  # type: ignore[attr-defined]
    assert (
        _err(stub.GetSandbox, pb.GetSandboxRequest(container_id=d))[0] == grpc.StatusCode.NOT_FOUND
    )
    stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))


def test_networks_are_isolated(net_env: NetEnv) -> None:
    """As in Docker: containers on two different networks cannot reach each
    other (even with routing on), while each reaches its own network."""
    stub = net_env.stub
    net = stub.Create(pb.CreateNetworkRequest(name="hgniso-" + secrets.token_hex(2)))
    a, b, c = (secrets.token_hex(32) for _ in range(3))
    sa = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=a))
    sb = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=b, network_mode=net.name))
    sc = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c, network_mode=net.name))
    forward = Path("/proc/sys/net/ipv4/ip_forward")
    saved = forward.read_text()
    forward.write_text("1")
    try:
        assert ping(sb.netns_path, sc.endpoints[0].ipv4_address)
        assert not ping(sa.netns_path, sb.endpoints[0].ipv4_address)
    finally:
        forward.write_text(saved)
        for x in (a, b, c):
            stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=x))
        stub.Remove(pb.RemoveNetworkRequest(reference=net.id))


def test_bridge_teardown_recorded_survives_a_crash(net_env: NetEnv) -> None:
    from sqlmodel import Session, select

    from hangu_network.models import TeardownRow
    from hangu_network.service import NetworkService

    # A removed network whose bridge a crash kept from going down: the row
    # that records it is all that is left, and the next start finishes it.
    bridge = f"hgtd{secrets.token_hex(3)}"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    try:
        with Session(net_env.service.networks.engine) as s:  # type: ignore[attr-defined]
            s.add(TeardownRow(bridge=bridge, subnet="10.208.250.0/24"))
            s.commit()
        again = NetworkService(net_env.settings)
        try:
            assert not link_exists(bridge)
            with Session(again.engine) as s:
                assert s.exec(select(TeardownRow)).all() == []
        finally:
            again.close()
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def test_bridge_name_reused_right_after_rm(net_env: NetEnv) -> None:
    stub = net_env.stub
    bridge = f"hgtr{secrets.token_hex(3)}"
    opts = {"com.docker.network.bridge.name": bridge}
    first = stub.Create(pb.CreateNetworkRequest(name=f"reuse-{bridge}", options=opts))
    stub.Remove(pb.RemoveNetworkRequest(reference=first.id))
    # The old bridge may still be going down: the create waits for it.
    second = stub.Create(pb.CreateNetworkRequest(name=f"reuse2-{bridge}", options=opts))
    try:
        assert second.bridge_name == bridge and link_exists(bridge)
    finally:
        stub.Remove(pb.RemoveNetworkRequest(reference=second.id))
    assert bridge_gone(bridge)


def test_reaping_what_a_crash_left_before_anything_was_recorded(net_env: NetEnv) -> None:
    """A crash between creating kernel state and recording it: a veth on a
    hangu bridge that no endpoint owns and a bound namespace that no sandbox
    owns are removed at start-up; recorded ones stay."""
    from hangu_network import netns

    service = net_env.service
    stub = net_env.stub
    kept = secrets.token_hex(32)
    sb = stub.CreateSandbox(pb.CreateSandboxRequest(container_id=kept))
    bridge = net_env.settings.bridge
    stray = "veth" + secrets.token_hex(3) + "z"
    subprocess.run(
        ["ip", "link", "add", stray, "master", bridge, "type", "veth", "peer", "name", stray + "p"],
        check=True,
    )
    loose = service.sandboxes.netns_dir / ("orphan" + secrets.token_hex(3))  # type: ignore[attr-defined]
    netns.create(loose).close()
    try:
        assert netns.is_bound(loose) and link_exists(stray)
        service.sandboxes.reap_orphans()  # type: ignore[attr-defined]
        assert not link_exists(stray) and not loose.exists()
        assert link_exists(service.sandboxes.get(kept).endpoints[0][0].veth)  # type: ignore[attr-defined]
        assert netns.is_bound(Path(sb.netns_path))
    finally:
        subprocess.run(["ip", "link", "del", stray], capture_output=True, check=False)
        netns.remove(loose)
        stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=kept))


def test_fixed_address_asked_again_while_its_old_endpoint_goes(net_env: NetEnv) -> None:
    """A restart (or a reconnect) asks for its --ip again while the old
    endpoint's veth is still being deleted off the request path: the address
    passes to the new endpoint, and the late release leaves it alone."""
    stub = net_env.stub
    third = 200 + secrets.randbelow(50)
    net = stub.Create(
        pb.CreateNetworkRequest(
            name="hgnfix-" + secrets.token_hex(2),
            ipam=pb.IPAM(config=[pb.IPAMConfig(subnet=f"10.201.{third}.0/24")]),
        )
    )
    fixed = f"10.201.{third}.77"
    c = secrets.token_hex(32)
    req = pb.CreateSandboxRequest(
        container_id=c,
        network_mode=net.name,
        endpoints=[pb.EndpointRequest(network=net.name, ipv4_address=fixed)],
    )
    sandboxes = net_env.service.sandboxes  # type: ignore[attr-defined]
    hold = threading.Event()
    sandboxes.reaper._worker.submit(hold.wait, 10)  # the reaper is busy: releases wait
    try:
        for _ in range(3):
            assert stub.CreateSandbox(req).endpoints[0].ipv4_address == fixed
            stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
        again = stub.CreateSandbox(req)
        hold.set()
        sandboxes.drain()
        assert again.endpoints[0].ipv4_address == fixed
        with pytest.raises(grpc.RpcError) as err:  # still the restarted one's
            stub.CreateSandbox(
                pb.CreateSandboxRequest(
                    container_id=secrets.token_hex(32),
                    network_mode=net.name,
                    endpoints=[pb.EndpointRequest(network=net.name, ipv4_address=fixed)],
                )
            )
        assert err.value.code() == grpc.StatusCode.ABORTED
    finally:
        hold.set()
        stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
        sandboxes.drain()
        stub.Remove(pb.RemoveNetworkRequest(reference=net.id))


def test_parallel_connects_and_disconnects_leave_nothing_behind(net_env: NetEnv) -> None:
    """Several containers connect and disconnect at once while the veths of
    earlier disconnects are deleted in batches (reaper.py): every call ends
    quickly (a lock-order wait on sqlite would last its 30 s timeout) and
    afterwards no veth, address or retired link of the network is left. A
    link in another hangu's retired group is not touched."""
    from sqlmodel import Session, select

    from hangu_network.models import AllocationRow
    from hangu_network.reaper import retired_group

    stub = net_env.stub
    net = stub.Create(pb.CreateNetworkRequest(name="hgnchurn-" + secrets.token_hex(2)))
    ids = [secrets.token_hex(32) for _ in range(4)]
    other = "hgq" + secrets.token_hex(3)
    other_group = retired_group(net_env.settings.bridge + "-another-stack")
    subprocess.run(["ip", "link", "add", other, "type", "bridge"], check=True)
    subprocess.run(["ip", "link", "set", other, "group", str(other_group)], check=True)
    errors: list[BaseException] = []

    def churn(container_id: str) -> None:
        try:
            for _ in range(6):
                stub.Connect(
                    pb.ConnectRequest(
                        container_id=container_id, endpoint=pb.EndpointRequest(network=net.name)
                    ),
                    timeout=10,
                )
                stub.Disconnect(
                    pb.DisconnectRequest(container_id=container_id, network=net.name), timeout=10
                )
        except BaseException as err:  # reported below, from the test's thread
            errors.append(err)

    try:
        sandboxes = [stub.CreateSandbox(pb.CreateSandboxRequest(container_id=c)) for c in ids]
        threads = [threading.Thread(target=churn, args=(c,)) for c in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for sb in sandboxes:
            assert "eth1" not in ns_run(sb.netns_path, "ip", "-o", "link").stdout
        net_env.service.sandboxes.drain()  # type: ignore[attr-defined]
        assert not list(Path("/sys/class/net", net.bridge_name, "brif").iterdir())
        with Session(net_env.service.engine) as s:  # type: ignore[attr-defined]
            left = s.exec(select(AllocationRow).where(AllocationRow.network_id == net.id)).all()
        assert left == []
        group = net_env.service.links.retired_group  # type: ignore[attr-defined]
        listed = subprocess.run(
            ["ip", "-o", "link", "show", "group", str(group)], capture_output=True, text=True
        ).stdout
        assert listed == ""
        assert link_exists(other)
    finally:
        subprocess.run(["ip", "link", "del", other], check=False)
        for c in ids:
            stub.RemoveSandbox(pb.RemoveSandboxRequest(container_id=c))
        stub.Remove(pb.RemoveNetworkRequest(reference=net.name))
