"""Unit tests for OCI spec generation: args, env, user, caps, seccomp,
rlimits, mounts, namespaces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hangu_container import capabilities, imageconfig, ocispec, rlimits, seccomp, users
from hangu_container import model as cm
from hangu_runtime.errors import InvalidArgument

from .rootfs import make_busybox_rootfs

IMAGE = {
    "Cmd": ["sh"],
    "Env": ["PATH=/bin:/usr/bin", "A=1"],
    "WorkingDir": "/w",
    "Entrypoint": None,
    "Volumes": {"/data": {}},
    "Labels": {"l": "img"},
}


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_busybox_rootfs(tmp_path_factory.mktemp("rootfs"))


def _spec(
    rootfs: Path, cfg: cm.ContainerConfig, hc: cm.HostConfig | None = None, **kw: object
) -> dict:
    return ocispec.build_spec(ocispec.SpecInput("c" * 64, cfg, hc or cm.HostConfig(), rootfs, **kw))  # type: ignore[arg-type]


def test_merge_cmd_and_entrypoint_rules() -> None:
    m = imageconfig.merge(cm.ContainerConfig(), IMAGE)
    assert imageconfig.process_args(m) == ["sh"]
    m = imageconfig.merge(cm.ContainerConfig(cmd=["echo", "x"]), IMAGE)
    assert imageconfig.process_args(m) == ["echo", "x"]
    img = dict(IMAGE, Entrypoint=["/entry"], Cmd=["default"])
    assert imageconfig.process_args(imageconfig.merge(cm.ContainerConfig(), img)) == [
        "/entry",
        "default",
    ]
    assert imageconfig.process_args(imageconfig.merge(cm.ContainerConfig(cmd=["a"]), img)) == [
        "/entry",
        "a",
    ]
    # A user entrypoint drops the image's cmd.
    assert imageconfig.process_args(
        imageconfig.merge(cm.ContainerConfig(entrypoint=["/bin/other"]), img)
    ) == ["/bin/other"]
    with pytest.raises(InvalidArgument):
        imageconfig.process_args(imageconfig.merge(cm.ContainerConfig(), {}))


def test_merge_env_workdir_volumes_labels() -> None:
    m = imageconfig.merge(cm.ContainerConfig(env=["A=2", "B=3"], labels={"u": "1"}), IMAGE)
    assert list(m.env) == ["PATH=/bin:/usr/bin", "A=2", "B=3"]
    assert m.working_dir == "/w"
    assert list(m.volumes) == ["/data"]
    assert dict(m.labels) == {"l": "img", "u": "1"}


def test_process_env_defaults(rootfs: Path) -> None:
    s = _spec(rootfs, cm.ContainerConfig(cmd=["true"], tty=True))
    env = s["process"]["env"]
    assert env[0] == f"PATH={ocispec.DEFAULT_PATH}"
    assert "HOSTNAME=cccccccccccc" in env and "TERM=xterm" in env
    assert s["hostname"] == "cccccccccccc"
    s = _spec(rootfs, cm.ContainerConfig(cmd=["true"], env=["PATH=/x"], hostname="h"))
    assert s["process"]["env"][:2] == ["PATH=/x", "HOSTNAME=h"]
    assert s["process"]["cwd"] == "/"


@pytest.mark.parametrize(
    "spec,expect",
    [
        ("", (0, 0, [29])),
        ("1000", (1000, 1000, [10, 29])),
        ("app", (1000, 1000, [10, 29])),
        ("app:audio", (1000, 29, [])),
        ("1000:5", (1000, 5, [])),
        ("4242", (4242, 0, [])),
        ("4242:4343", (4242, 4343, [])),
        ("nobody", (65534, 65534, [])),
    ],
)
def test_user_resolution(rootfs: Path, spec: str, expect: tuple[int, int, list[int]]) -> None:
    u = users.resolve_user(rootfs, spec)
    assert (u.uid, u.gid, u.additional_gids) == expect


def test_user_unknown_and_group_add(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match="unable to find user ghost"):
        users.resolve_user(rootfs, "ghost")
    u = users.resolve_user(rootfs, "daemon", ["wheel", "77"])
    assert (u.uid, u.gid, u.additional_gids) == (1, 1, [10, 77])


def test_default_caps_and_add_drop() -> None:
    host = frozenset(capabilities.ALL_CAPS) - {"CAP_SYS_RESOURCE"}
    caps = capabilities.effective_caps([], [], False, host)
    assert caps == capabilities.DEFAULT_CAPS and len(caps) == 14
    caps = capabilities.effective_caps(["NET_ADMIN"], ["MKNOD", "cap_kill"], False, host)
    assert "CAP_NET_ADMIN" in caps and "CAP_MKNOD" not in caps and "CAP_KILL" not in caps
    assert capabilities.effective_caps([], ["ALL"], False, host) == []
    assert capabilities.effective_caps(["CHOWN"], ["ALL"], False, host) == ["CAP_CHOWN"]
    everything = capabilities.effective_caps(["ALL"], [], False, host)
    assert "CAP_SYS_ADMIN" in everything and "CAP_SYS_RESOURCE" not in everything
    privileged = capabilities.effective_caps([], [], True, host)
    assert "CAP_SYS_RESOURCE" not in privileged and len(privileged) == len(host)
    with pytest.raises(InvalidArgument):
        capabilities.effective_caps(["NOPE"], [], False, host)


def test_host_bounding_set_is_read(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapBnd:\t0000000000000003\n")
    capabilities.host_bounding_set.cache_clear()
    try:
        assert capabilities.host_bounding_set(str(status)) == {"CAP_CHOWN", "CAP_DAC_OVERRIDE"}
    finally:
        capabilities.host_bounding_set.cache_clear()


def test_seccomp_conversion() -> None:
    profile = seccomp.load_profile()
    default = seccomp.convert(profile, frozenset(capabilities.DEFAULT_CAPS), "amd64", (6, 1))
    assert default["defaultAction"] == "SCMP_ACT_ERRNO" and default["defaultErrnoRet"] == 1
    assert default["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    names = {n for r in default["syscalls"] for n in r["names"]}
    assert {"read", "arch_prctl", "chroot", "ptrace"} <= names
    assert not {"mount", "bpf", "reboot", "s390_runtime_instr", "settimeofday"} & names
    clone = [r for r in default["syscalls"] if r["names"] == ["clone"]]
    assert clone and clone[0]["args"][0]["op"] == "SCMP_CMP_MASKED_EQ"
    assert any(r["names"] == ["clone3"] and r["errnoRet"] == 38 for r in default["syscalls"])
    admin = seccomp.convert(
        profile, frozenset([*capabilities.DEFAULT_CAPS, "CAP_SYS_ADMIN"]), "amd64", (6, 1)
    )
    admin_names = {n for r in admin["syscalls"] for n in r["names"]}
    assert {"mount", "setns", "clone3"} <= admin_names
    assert not any(r.get("errnoRet") == 38 for r in admin["syscalls"])
    old = seccomp.convert(profile, frozenset(), "amd64", (4, 4))
    assert "ptrace" not in {n for r in old["syscalls"] for n in r["names"]}
    # Prepared once per capability set.
    assert seccomp.default_for_caps(frozenset(["CAP_KILL"])) is seccomp.default_for_caps(
        frozenset(["CAP_KILL"])
    )


def test_rlimits_clamped_to_host() -> None:
    hard = {"RLIMIT_NOFILE": 4096}
    out = rlimits.rlimits(
        [("nofile", 1024, 1_000_000), ("nproc", 10, 20)],
        host_hard=lambda k: hard.get(k, rlimits.UNLIMITED),
    )
    assert out == [
        {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
        {"type": "RLIMIT_NPROC", "hard": 20, "soft": 10},
    ]
    out = rlimits.rlimits([("nofile", 9000, 9000)], host_hard=lambda k: 4096)
    assert out[0]["soft"] == 4096
    with pytest.raises(InvalidArgument):
        rlimits.rlimits([("bogus", 1, 1)])
    with pytest.raises(InvalidArgument):
        rlimits.rlimits([("nofile", 5, 1)])


def test_spec_security_defaults(rootfs: Path) -> None:
    s = _spec(rootfs, cm.ContainerConfig(cmd=["true"]))
    linux = s["linux"]
    assert "/proc/kcore" in linux["maskedPaths"] and "/proc/sys" in linux["readonlyPaths"]
    assert linux["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert linux["cgroupsPath"] == "/hangu/" + "c" * 64
    assert linux["resources"]["devices"][0] == {"allow": False, "access": "rwm"}
    assert "rlimits" not in s["process"]
    types = [n["type"] for n in linux["namespaces"]]
    assert types == ["mount", "pid", "ipc", "uts", "network"]
    json.dumps(s)
    p = _spec(rootfs, cm.ContainerConfig(cmd=["true"]), cm.HostConfig(privileged=True))
    assert "seccomp" not in p["linux"] and "maskedPaths" not in p["linux"]
    assert (
        "CAP_SYS_RESOURCE" not in p["process"]["capabilities"]["bounding"]
        or "CAP_SYS_RESOURCE" in capabilities.host_bounding_set()
    )


def test_spec_namespaces_for_network_modes(rootfs: Path) -> None:
    s = _spec(rootfs, cm.ContainerConfig(cmd=["true"]), netns_path="/run/netns/x")
    assert {"type": "network", "path": "/run/netns/x"} in s["linux"]["namespaces"]
    host = _spec(rootfs, cm.ContainerConfig(cmd=["true"]), netns_path="")
    types = [n["type"] for n in host["linux"]["namespaces"]]
    assert "network" not in types and "uts" not in types and "hostname" not in host


def test_spec_mounts(rootfs: Path) -> None:
    hc = cm.HostConfig(shm_size=1 << 20, tmpfs={"/run": "size=1m"})
    s = _spec(
        rootfs,
        cm.ContainerConfig(cmd=["true"]),
        hc,
        hosts_path="/h/hosts",
        resolv_conf_path="/h/resolv",
        hostname_path="/h/hostname",
        mounts=[
            {"destination": "/data/sub", "type": "bind", "source": "/b", "options": ["rbind"]},
            {"destination": "/data", "type": "bind", "source": "/a", "options": ["rbind"]},
        ],
    )
    dests = [m["destination"] for m in s["mounts"]]
    assert dests[:7] == [
        "/proc",
        "/dev",
        "/dev/pts",
        "/sys",
        "/sys/fs/cgroup",
        "/dev/mqueue",
        "/dev/shm",
    ]
    assert dests.index("/data") < dests.index("/data/sub")
    assert {"/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/run"} <= set(dests)
    shm = next(m for m in s["mounts"] if m["destination"] == "/dev/shm")
    assert f"size={1 << 20}" in shm["options"]
    sysfs = next(m for m in s["mounts"] if m["destination"] == "/sys")
    assert "ro" in sysfs["options"]


def test_spec_resources_and_rlimits(rootfs: Path) -> None:
    hc = cm.HostConfig(
        memory=64 << 20,
        nano_cpus=500_000_000,
        pids_limit=50,
        oom_score_adj=100,
        cgroup_parent="/custom",
        ulimits=[cm.Ulimit(name="nofile", soft=100, hard=200)],
    )
    s = _spec(rootfs, cm.ContainerConfig(cmd=["true"]), hc)
    res = s["linux"]["resources"]
    assert res["memory"]["limit"] == 64 << 20
    assert res["cpu"] == {"period": 100000, "quota": 50000}
    assert res["pids"] == {"limit": 50}
    assert s["process"]["oomScoreAdj"] == 100
    assert s["process"]["rlimits"] == [{"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100}]
    assert s["linux"]["cgroupsPath"] == "/custom/" + "c" * 64


def test_detach_keys() -> None:
    from hangu_container.sessions import AttachSession, parse_detach_keys

    assert parse_detach_keys("") == b"\x10\x11"
    assert parse_detach_keys("ctrl-a,x,ctrl-\\") == b"\x01x\x1c"
    with pytest.raises(ValueError):
        parse_detach_keys("ctrl-1")
    s = AttachSession(True, True, True, b"\x10\x11", tty=True)
    assert s._scan_detach(b"ab\x10") == b"ab"
    assert s._scan_detach(b"c") == b"\x10c"
    assert s._scan_detach(b"\x10") == b""
    assert s._scan_detach(b"\x11rest") is None
    # Without a TTY (dockerd's rule) the sequence is plain data: binary
    # stdin piped into `docker run -i` must not detach.
    raw = AttachSession(True, True, True, b"\x10\x11", tty=False)
    assert raw._scan_detach(b"a\x10\x11b") == b"a\x10\x11b"
