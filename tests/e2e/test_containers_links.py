"""Legacy links, runtimes, log drivers and the IPC/PID/UTS modes through the
whole stack, with the real docker CLI and docker-py; each effect checked in
the container (its /etc/hosts, env, namespaces), each refusal against
dockerd's words.

Stack: bridge hgl<rand>, pool 10.239.0.0/16."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.support.dockercli import ok
from tests.support.stack import Stack, inspect, module_stack, unique

pytestmark = [pytest.mark.root, pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(busybox_docker_archive: Path) -> Iterator[Stack]:
    for stack in module_stack("links", bridge_prefix="hgl", subnet_pool="10.239.0.0/16"):
        stack.load_image(busybox_docker_archive)
        yield stack


def refused(stack: Stack, *args: str) -> str:
    done = stack.run_docker(*args)
    assert done.returncode != 0, done.stdout
    return str(done.stderr)


def running(stack: Stack, name: str, *opts: str) -> str:
    return ok(stack.run_docker("run", "-d", "--name", name, *opts, "busybox", "sleep", "300"))


def test_link_hosts_env_and_inspect(stack: Stack) -> None:
    target, me = unique("lt"), unique("me")
    tid = running(
        stack, target, "-e", "X=1", "-e", "FOO=bar", "--expose", "80", "--expose", "53/udp"
    )
    try:
        ip = inspect(stack, target)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
        out = ok(
            stack.run_docker(
                "run", "--rm", "--name", me, "--link", f"{target}:al", "busybox",
                "sh", "-c", "cat /etc/hosts; echo ---; env",
            )
        )  # fmt: skip
        hosts, _, env_text = out.partition("---\n")
        assert f"{ip}\tal {tid[:12]} {target}" in hosts.splitlines()
        env = set(env_text.split())
        for var in (
            f"AL_NAME=/{me}/al",
            f"AL_PORT=tcp://{ip}:80",  # current Docker: tcp first
            f"AL_PORT_80_TCP=tcp://{ip}:80",
            f"AL_PORT_80_TCP_ADDR={ip}",
            "AL_PORT_80_TCP_PORT=80",
            "AL_PORT_80_TCP_PROTO=tcp",
            f"AL_PORT_53_UDP=udp://{ip}:53",
            "AL_ENV_X=1",
            "AL_ENV_FOO=bar",
        ):
            assert var in env, (var, env_text)
        assert not any(v.startswith(("AL_ENV_PATH=", "AL_ENV_HOME=")) for v in env)

        created = unique("me2")
        ok(
            stack.run_docker(
                "create", "--name", created, "--link", target, "busybox", "cat", "/etc/hosts"
            )
        )
        try:
            assert inspect(stack, created)["HostConfig"]["Links"] == [
                f"/{target}:/{created}/{target}"
            ]
            client = stack.docker_client()
            ctr = client.containers.get(created)
            assert ctr.attrs["HostConfig"]["Links"] == [f"/{target}:/{created}/{target}"]
        finally:
            stack.run_docker("rm", "-f", created)
    finally:
        stack.run_docker("rm", "-f", target)


def test_rm_link(stack: Stack) -> None:
    target, me = unique("lt"), unique("me")
    running(stack, target)
    try:
        ok(
            stack.run_docker(
                "create", "--name", me, "--link", f"{target}:al", "busybox", "sh", "-c", "env"
            )
        )
        assert ok(stack.run_docker("rm", "--link", f"/{me}/al")).strip() == f"/{me}/al"
        assert inspect(stack, me)["HostConfig"]["Links"] is None
        assert inspect(stack, me)["State"]["Status"] == "created"  # the container stays
        assert f"No such container: {me}/al" in refused(stack, "rm", "--link", f"/{me}/al")
        assert "Conflict, cannot remove the default link name of the container" in refused(
            stack, "rm", "--link", me
        )
        env = ok(stack.run_docker("start", "-a", me))
        assert "AL_NAME" not in env
    finally:
        stack.run_docker("rm", "-f", me, target)


def test_link_refusals(stack: Stack) -> None:
    err = refused(stack, "run", "--rm", "--link", "nosuch-lnk:x", "busybox", "true")
    assert "could not get container for nosuch-lnk: No such container: nosuch-lnk" in err
    target, me = unique("lt"), unique("me")
    running(stack, target)
    try:
        ok(stack.run_docker("stop", "-t", "0", target))
        ok(stack.run_docker("create", "--name", me, "--link", f"{target}:x", "busybox", "true"))
        err = refused(stack, "start", me)
        assert f"Cannot link to a non running container: /{target} AS /{me}/x" in err
        client = stack.docker_client()
        with pytest.raises(docker.errors.APIError) as info:
            client.api.start(me)
        assert info.value.response.status_code == 500
    finally:
        stack.run_docker("rm", "-f", me, target)


def test_link_on_user_network_is_an_alias(stack: Stack) -> None:
    net, target, me = unique("lnet"), unique("lu"), unique("me")
    ok(stack.run_docker("network", "create", net))
    try:
        running(stack, target, "--network", net)
        ok(
            stack.run_docker(
                "create",
                "--name",
                me,
                "--network",
                net,
                "--link",
                f"{target}:uali",
                "busybox",
                "nslookup",
                "uali",
            )
        )
        doc = inspect(stack, me)
        assert doc["HostConfig"]["Links"] is None
        assert doc["NetworkSettings"]["Networks"][net]["Links"] == [f"{target}:uali"]
        # The alias resolves for the linking container only (names on user
        # networks are the resolver's); a link to a missing container is
        # only a name there, as with dockerd.
        target_ip = inspect(stack, target)["NetworkSettings"]["Networks"][net]["IPAddress"]
        assert target_ip in ok(stack.run_docker("start", "-a", me))
        ok(
            stack.run_docker(
                "run", "--rm", "--network", net, "--link", "nosuch-x:y", "busybox", "true"
            )
        )
    finally:
        stack.run_docker("rm", "-f", me, target)
        stack.run_docker("network", "rm", net)


def test_runtime(stack: Stack) -> None:
    assert "unknown or invalid runtime name: xx" in refused(
        stack, "run", "--rm", "--runtime", "xx", "busybox", "true"
    )
    name = unique("rt")
    ok(stack.run_docker("run", "--name", name, "--runtime", "runc", "busybox", "true"))
    try:
        assert inspect(stack, name)["HostConfig"]["Runtime"] == "runc"
    finally:
        stack.run_docker("rm", "-f", name)
    client = stack.docker_client()
    with pytest.raises(docker.errors.APIError) as info:
        client.containers.create("busybox", "true", runtime="nosuch")
    assert info.value.response.status_code == 400
    assert "unknown or invalid runtime name: nosuch" in str(info.value)


def test_log_driver(stack: Stack) -> None:
    err = refused(stack, "run", "--rm", "--log-driver", "xx", "busybox", "true")
    assert "logger: no log driver named 'xx' is registered" in err
    client = stack.docker_client()
    with pytest.raises(docker.errors.APIError) as info:
        client.containers.create("busybox", "true", log_config={"Type": "xx"})
    assert info.value.response.status_code == 400
    for driver in ("json-file", "local", "none"):
        out = ok(stack.run_docker("run", "--rm", "--log-driver", driver, "busybox", "echo", "hi"))
        assert out == "hi\n"


def ns(stack: Stack, name: str, kind: str) -> str:
    return ok(stack.run_docker("exec", name, "readlink", f"/proc/self/ns/{kind}")).strip()


def test_ipc_and_pid_modes(stack: Stack) -> None:
    donor, private = unique("ish"), unique("ipriv")
    running(stack, donor, "--ipc", "shareable")
    running(stack, private)
    try:
        assert inspect(stack, private)["HostConfig"]["IpcMode"] == "private"
        assert inspect(stack, donor)["HostConfig"]["IpcMode"] == "shareable"
        out = ok(
            stack.run_docker(
                "run",
                "--rm",
                "--ipc",
                f"container:{donor}",
                "busybox",
                "readlink",
                "/proc/self/ns/ipc",
            )
        )
        assert out.strip() == ns(stack, donor, "ipc")
        out = ok(
            stack.run_docker(
                "run", "--rm", "--pid", f"container:{donor}", "busybox", "ps", "-o", "args"
            )
        )
        assert "sleep 300" in out
        did = inspect(stack, private)["Id"]
        err = refused(stack, "run", "--rm", "--ipc", f"container:{private}", "busybox", "true")
        assert (
            f"can't join IPC of container {did}: non-shareable IPC "
            "(hint: use IpcMode:shareable for the donor container)"
        ) in err
        for flag in ("--ipc", "--pid"):
            assert "No such container: nosuch-ns" in refused(
                stack, "run", "--rm", flag, "container:nosuch-ns", "busybox", "true"
            )
        assert "invalid IPC mode: bogus" in refused(
            stack, "run", "--rm", "--ipc", "bogus", "busybox", "true"
        )
        ok(stack.run_docker("stop", "-t", "0", donor))
        xid = inspect(stack, donor)["Id"]
        assert f"container {xid} is not running" in refused(
            stack, "run", "--rm", "--pid", f"container:{donor}", "busybox", "true"
        )
        assert f"can't join IPC of container {xid}: container {xid} is not running" in refused(
            stack, "run", "--rm", "--ipc", f"container:{donor}", "busybox", "true"
        )
    finally:
        stack.run_docker("rm", "-f", donor, private)


def test_host_namespaces(stack: Stack) -> None:
    host_ipc = os.readlink("/proc/self/ns/ipc")
    out = ok(
        stack.run_docker("run", "--rm", "--ipc", "host", "busybox", "readlink", "/proc/self/ns/ipc")
    )
    assert out.strip() == host_ipc
    out = ok(
        stack.run_docker("run", "--rm", "--pid", "host", "busybox", "readlink", "/proc/self/ns/pid")
    )
    assert out.strip() == os.readlink("/proc/self/ns/pid")
    out = ok(stack.run_docker("run", "--rm", "--uts", "host", "busybox", "hostname"))
    assert out.strip() == os.uname().nodename
    out = ok(
        stack.run_docker(
            "run",
            "--rm",
            "--ipc",
            "none",
            "busybox",
            "sh",
            "-c",
            "mount | grep -c /dev/shm || true",
        )
    )
    assert out.strip() == "0"
    out = ok(stack.run_docker("run", "--rm", "busybox", "readlink", "/proc/self/ns/ipc"))
    assert out.strip() != host_ipc


def test_devices_and_device_cgroup_rules(stack: Stack) -> None:
    # /dev/loop-control (c 10:237) is outside Docker's default device rules: without
    # --device the node is not there, with it the node is made with the
    # host's mode and the cgroup lets it be opened
    assert "No such file" in refused(
        stack, "run", "--rm", "busybox", "head", "-c0", "/dev/loop-control"
    )
    out = ok(
        stack.run_docker(
            "run",
            "--rm",
            "--device",
            "/dev/loop-control:/dev/xloop:r",
            "busybox",
            "sh",
            "-c",
            "stat -c '%F %t:%T %a' /dev/xloop && head -c0 /dev/xloop && echo opened",
        )
    )
    assert out == "character special file a:ed 600\nopened\n"
    # a node made by hand (mknod is in Docker's default capabilities) is
    # refused by the device cgroup unless a rule allows it
    make = "mknod /dev/k c 10 237 && head -c0 /dev/k && echo opened"
    denied = stack.run_docker("run", "--rm", "busybox", "sh", "-c", make)
    assert "Operation not permitted" in denied.stderr
    allowed = ok(
        stack.run_docker(
            "run", "--rm", "--device-cgroup-rule", "c 10:237 r", "busybox", "sh", "-c", make
        )
    )
    assert allowed == "opened\n"
    assert (
        'error gathering device information while adding custom device "/dev/nosuch": '
        "no such file or directory"
    ) in refused(stack, "run", "--rm", "--device", "/dev/nosuch", "busybox", "true")
    client = stack.docker_client()
    with pytest.raises(docker.errors.APIError) as info:
        client.containers.create("busybox", "true", device_cgroup_rules=["x 1:2 r"])
    assert info.value.response.status_code == 400
    assert "invalid device cgroup format 'x 1:2 r'" in str(info.value)
