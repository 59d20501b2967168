"""The OCI runtime spec (config.json) for one container, built the way
dockerd builds it: namespaces, Docker's default mounts and capabilities,
the default seccomp profile, masked and read-only paths, cgroup resources.

Pure: everything it needs comes in through `SpecInput`; it reads nothing but
the rootfs's /etc/passwd and /etc/group (through `users`) and, once, the
host's capability bounding set and rlimits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import capabilities, devices, imageconfig, rlimits, seccomp, users
from .model import ContainerConfig, HostConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

MASKED_PATHS = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# Docker's default device cgroup allow-list (after a deny-all rule).
DEFAULT_DEVICE_RULES: list[dict[str, Any]] = [
    {"allow": False, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # /dev/zero
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # /dev/null
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # /dev/urandom
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # /dev/random
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # /dev/tty
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # /dev/console
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # /dev/ptmx
    {"allow": True, "type": "c", "major": 136, "access": "rwm"},  # /dev/pts/*
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},  # /dev/full
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # /dev/net/tun
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},  # /dev/fuse
]


@dataclass
class SpecInput:
    container_id: str
    config: ContainerConfig  # merged with the image's config
    host_config: HostConfig
    rootfs: Path
    # Network namespace: a path to join, "" to share the host's, None for a
    # fresh empty one (runtime tests without a network service).
    netns_path: str | None = None
    hosts_path: str = ""
    hostname_path: str = ""
    resolv_conf_path: str = ""
    mounts: list[dict[str, Any]] = field(default_factory=list)  # OCI mounts (binds, volumes)
    cgroup_parent: str = "/hangu"
    # Namespaces of other containers to join (`--ipc/--pid container:<x>`):
    # type -> path; and the /dev/shm to bind with a joined IPC namespace.
    joined: dict[str, str] = field(default_factory=dict)
    shm_source: str = ""
    link_env: list[str] = field(default_factory=list)  # legacy links' variables (links.py)
    # `--init`: the host's init binary (tini), run as pid 1 in front of the
    # command; "" for none.
    init_path: str = ""


# Where dockerd mounts its docker-init (tini) in a container.
INIT_DESTINATION = "/sbin/docker-init"


def hostname_of(config: ContainerConfig, container_id: str) -> str:
    return config.hostname or container_id[:12]


def process_env(
    config: ContainerConfig, hostname: str, link_env: list[str] | None = None
) -> list[str]:
    """dockerd's order: PATH, HOSTNAME, TERM, the links' variables, then the
    container's own (which win)."""
    base = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if config.tty:
        base.append("TERM=xterm")
    base = imageconfig.merge_env(base, list(link_env or []))
    return imageconfig.merge_env(base, list(config.env))


def _shm_mount(hc: HostConfig, shm_source: str) -> list[dict[str, Any]]:
    """/dev/shm as dockerd gives it: a tmpfs of the container's own, the
    host's (`--ipc host`), the donor's (`--ipc container:<x>`), none for
    `--ipc none`."""
    if hc.ipc_mode == "none":
        return []
    source = shm_source or ("/dev/shm" if hc.ipc_mode == "host" else "")
    if source:
        return [{"destination": "/dev/shm", "type": "bind", "source": source, "options": ["rbind"]}]
    shm = hc.shm_size or DEFAULT_SHM_SIZE
    return [
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm}"],
        }
    ]


def _default_mounts(hc: HostConfig, shm_source: str = "") -> list[dict[str, Any]]:
    sys_opts = ["nosuid", "noexec", "nodev", "rw" if hc.privileged else "ro"]
    return [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": sys_opts},
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        *_shm_mount(hc, shm_source),
    ]


def _tmpfs_mounts(hc: HostConfig) -> list[dict[str, Any]]:
    out = []
    for dest, opts in sorted(hc.tmpfs.items()):
        extra = [o for o in opts.split(",") if o]
        out.append(
            {
                "destination": dest,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["noexec", "nosuid", "nodev", *extra],
            }
        )
    for m in hc.mounts:
        if m.type == "tmpfs":
            options = ["noexec", "nosuid", "nodev"]
            if m.tmpfs_size_bytes:
                options.append(f"size={m.tmpfs_size_bytes}")
            if m.tmpfs_mode:
                options.append(f"mode={m.tmpfs_mode:o}")
            if m.read_only:
                options.append("ro")
            out.append(
                {"destination": m.target, "type": "tmpfs", "source": "tmpfs", "options": options}
            )
    return out


def _etc_binds(inp: SpecInput) -> list[dict[str, Any]]:
    out = []
    for dest, src in (
        ("/etc/resolv.conf", inp.resolv_conf_path),
        ("/etc/hostname", inp.hostname_path),
        ("/etc/hosts", inp.hosts_path),
    ):
        if src:
            out.append(
                {
                    "destination": dest,
                    "type": "bind",
                    "source": src,
                    "options": ["rbind", "rprivate"],
                }
            )
    return out


def build_mounts(inp: SpecInput) -> list[dict[str, Any]]:
    """Default mounts, then user mounts sorted by depth (a parent before its
    children); a user mount on a default destination replaces the default."""
    user = inp.mounts + _tmpfs_mounts(inp.host_config)
    user_dests = {m["destination"].rstrip("/") or "/" for m in user}
    etc = [m for m in _etc_binds(inp) if m["destination"] not in user_dests]
    defaults = [
        m
        for m in _default_mounts(inp.host_config, inp.shm_source)
        if m["destination"] not in user_dests
    ]
    user_sorted = sorted(user, key=lambda m: len(Path(m["destination"]).parts))
    return defaults + etc + user_sorted


def _namespaces(inp: SpecInput) -> list[dict[str, str]]:
    hc = inp.host_config
    ns: list[dict[str, str]] = [{"type": "mount"}]
    for kind, mode in (("pid", hc.pid_mode), ("ipc", hc.ipc_mode)):
        if kind in inp.joined:
            ns.append({"type": kind, "path": inp.joined[kind]})
        elif mode != "host":
            ns.append({"type": kind})
    if hc.uts_mode != "host" and inp.netns_path != "":
        ns.append({"type": "uts"})
    if inp.netns_path is None:
        ns.append({"type": "network"})
    elif inp.netns_path:
        ns.append({"type": "network", "path": inp.netns_path})
    # cgroup namespace: dockerd's default on a cgroup v1 host is "host".
    if hc.cgroupns_mode == "private":
        ns.append({"type": "cgroup"})
    return ns


def resources(hc: HostConfig) -> dict[str, Any]:
    res: dict[str, Any] = {
        "devices": [{"allow": True, "access": "rwm"}]
        if hc.privileged
        else [dict(r) for r in DEFAULT_DEVICE_RULES]
    }
    memory: dict[str, Any] = {}
    if hc.memory:
        memory["limit"] = hc.memory
        if hc.memory_swap:
            memory["swap"] = hc.memory_swap
    if hc.memory_reservation:
        memory["reservation"] = hc.memory_reservation
    if hc.memory_swappiness is not None and hc.memory_swappiness >= 0:
        memory["swappiness"] = hc.memory_swappiness
    if hc.oom_kill_disable:
        memory["disableOOMKiller"] = True
    if memory:
        res["memory"] = memory
    cpu: dict[str, Any] = {}
    if hc.cpu_shares:
        cpu["shares"] = hc.cpu_shares
    if hc.nano_cpus:
        cpu["period"] = 100000
        cpu["quota"] = hc.nano_cpus * 100000 // 1_000_000_000
    else:
        if hc.cpu_period:
            cpu["period"] = hc.cpu_period
        if hc.cpu_quota:
            cpu["quota"] = hc.cpu_quota
    if hc.cpuset_cpus:
        cpu["cpus"] = hc.cpuset_cpus
    if hc.cpuset_mems:
        cpu["mems"] = hc.cpuset_mems
    if cpu:
        res["cpu"] = cpu
    if hc.pids_limit > 0:
        res["pids"] = {"limit": hc.pids_limit}
    if hc.blkio_weight:
        res["blockIO"] = {"weight": hc.blkio_weight}
    return res


def cgroups_path(inp: SpecInput) -> str:
    parent = inp.host_config.cgroup_parent or inp.cgroup_parent
    return (
        f"/{parent.strip('/')}/{inp.container_id}" if parent.strip("/") else f"/{inp.container_id}"
    )


def with_init(inp: SpecInput, args: list[str], mounts: list[dict[str, Any]]) -> list[str]:
    """dockerd's `--init`: only in a pid namespace of the container's own,
    the init as pid 1 (`docker-init -- cmd args`), bind-mounted read-only."""
    pid_mode = inp.host_config.pid_mode
    if not inp.init_path or pid_mode == "host" or pid_mode.startswith("container:"):
        return args
    mounts.append(
        {
            "destination": INIT_DESTINATION,
            "type": "bind",
            "source": inp.init_path,
            "options": ["bind", "ro"],
        }
    )
    return [INIT_DESTINATION, "--", *args]


def build_spec(inp: SpecInput) -> dict[str, Any]:
    cfg, hc = inp.config, inp.host_config
    mounts = build_mounts(inp)
    hostname = hostname_of(cfg, inp.container_id)
    user = users.resolve_user(inp.rootfs, cfg.user, list(hc.group_add))
    caps = capabilities.effective_caps(list(hc.cap_add), list(hc.cap_drop), hc.privileged)
    process: dict[str, Any] = {
        "terminal": cfg.tty,
        "user": {"uid": user.uid, "gid": user.gid},
        "args": with_init(inp, imageconfig.process_args(cfg), mounts),
        "env": process_env(cfg, hostname, inp.link_env),
        "cwd": cfg.working_dir or "/",
        "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted")},
        "noNewPrivileges": "no-new-privileges" in hc.security_opt
        or "no-new-privileges:true" in hc.security_opt,
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = user.additional_gids
    if cfg.tty and len(hc.console_size) == 2 and all(hc.console_size):
        process["consoleSize"] = {"height": hc.console_size[0], "width": hc.console_size[1]}
    limits = rlimits.rlimits([(u.name, u.soft, u.hard) for u in hc.ulimits])
    if limits:
        process["rlimits"] = limits
    if hc.oom_score_adj:
        process["oomScoreAdj"] = hc.oom_score_adj
    linux: dict[str, Any] = {
        "namespaces": _namespaces(inp),
        "resources": resources(hc),
        "cgroupsPath": cgroups_path(inp),
    }
    if hc.devices or hc.device_cgroup_rules:
        nodes, allowed = devices.host_devices(list(hc.devices))
        if nodes:
            linux["devices"] = nodes
        if not hc.privileged:
            linux["resources"]["devices"] += allowed + devices.cgroup_rules(
                list(hc.device_cgroup_rules)
            )
    if hc.sysctls:
        linux["sysctl"] = dict(hc.sysctls)
    if not hc.privileged:
        linux["maskedPaths"] = list(hc.masked_paths) or list(MASKED_PATHS)
        linux["readonlyPaths"] = list(hc.readonly_paths) or list(READONLY_PATHS)
        if "seccomp=unconfined" not in hc.security_opt:
            linux["seccomp"] = seccomp.default_for_caps(frozenset(caps))
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": {"path": str(inp.rootfs), "readonly": hc.readonly_rootfs},
        "mounts": mounts,
        "linux": linux,
    }
    if "uts" in {n["type"] for n in linux["namespaces"]}:
        spec["hostname"] = hostname
        if cfg.domainname:
            spec["domainname"] = cfg.domainname
    return spec
