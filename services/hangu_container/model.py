"""The container service's domain model: a container (Docker's config shapes,
its state and health, what it holds in the kernel), an exec, and what the
observation RPCs report. Plain dataclasses; nothing here knows gRPC.

The config shapes mirror Docker's (and the proto's) field for field, so that
`converters.py` can translate them generically; `None` marks an absent value
where Docker tells absent from empty ("Cmd": null vs []) or zero."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# ------------------------------------------------------------------ config


@dataclass
class Healthcheck:
    test: list[str] = field(default_factory=list)
    interval_ns: int = 0
    timeout_ns: int = 0
    start_period_ns: int = 0
    start_interval_ns: int = 0
    retries: int = 0


@dataclass
class ContainerConfig:
    """Docker's container Config (the part that travels with an image)."""

    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: list[str] = field(default_factory=list)  # "80/tcp"
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: list[str] = field(default_factory=list)
    cmd: list[str] | None = None
    healthcheck: Healthcheck | None = None
    args_escaped: bool = False
    image: str = ""  # what the user asked for
    volumes: list[str] = field(default_factory=list)  # anonymous volume targets
    working_dir: str = ""
    entrypoint: list[str] | None = None
    network_disabled: bool = False
    mac_address: str = ""
    on_build: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    stop_timeout: int | None = None
    shell: list[str] = field(default_factory=list)


@dataclass
class PortBinding:
    host_ip: str = ""
    host_port: str = ""


@dataclass
class PortBindings:
    bindings: list[PortBinding] = field(default_factory=list)


@dataclass
class RestartPolicy:
    name: str = ""  # "", "no", "always", "unless-stopped", "on-failure"
    maximum_retry_count: int = 0


@dataclass
class LogConfig:
    type: str = ""
    config: dict[str, str] = field(default_factory=dict)


@dataclass
class Mount:
    """One `--mount` (HostConfig.Mounts)."""

    type: str = ""  # bind, volume, tmpfs
    source: str = ""
    target: str = ""
    read_only: bool = False
    consistency: str = ""
    bind_propagation: str = ""
    bind_create_mountpoint: bool = False
    volume_no_copy: bool = False
    volume_labels: dict[str, str] = field(default_factory=dict)
    volume_driver: str = ""
    volume_driver_options: dict[str, str] = field(default_factory=dict)
    volume_subpath: str = ""
    tmpfs_size_bytes: int = 0
    tmpfs_mode: int = 0


@dataclass
class Ulimit:
    name: str = ""
    soft: int = 0
    hard: int = 0


@dataclass
class DeviceMapping:
    path_on_host: str = ""
    path_in_container: str = ""
    cgroup_permissions: str = ""


@dataclass
class HostConfig:
    """Docker's HostConfig."""

    binds: list[str] = field(default_factory=list)  # "src:dst[:opts]"
    container_id_file: str = ""
    log_config: LogConfig = field(default_factory=LogConfig)
    network_mode: str = ""
    port_bindings: dict[str, PortBindings] = field(default_factory=dict)
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    auto_remove: bool = False
    volume_driver: str = ""
    volumes_from: list[str] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    cgroupns_mode: str = ""
    dns: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    extra_hosts: list[str] = field(default_factory=list)
    group_add: list[str] = field(default_factory=list)
    ipc_mode: str = ""
    cgroup: str = ""
    links: list[str] = field(default_factory=list)
    oom_score_adj: int = 0
    pid_mode: str = ""
    privileged: bool = False
    publish_all_ports: bool = False
    readonly_rootfs: bool = False
    security_opt: list[str] = field(default_factory=list)
    storage_opt: dict[str, str] = field(default_factory=dict)
    tmpfs: dict[str, str] = field(default_factory=dict)
    uts_mode: str = ""
    userns_mode: str = ""
    shm_size: int = 0
    sysctls: dict[str, str] = field(default_factory=dict)
    runtime: str = ""
    isolation: str = ""
    # Resources.
    cpu_shares: int = 0
    memory: int = 0
    cgroup_parent: str = ""
    cpu_period: int = 0
    cpu_quota: int = 0
    nano_cpus: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    devices: list[DeviceMapping] = field(default_factory=list)
    memory_reservation: int = 0
    memory_swap: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool = False
    pids_limit: int = 0
    ulimits: list[Ulimit] = field(default_factory=list)
    init: bool = False
    masked_paths: list[str] = field(default_factory=list)
    readonly_paths: list[str] = field(default_factory=list)
    blkio_weight: int = 0
    device_cgroup_rules: list[str] = field(default_factory=list)
    console_size: list[int] = field(default_factory=list)  # [height, width]


@dataclass
class EndpointConfig:
    aliases: list[str] = field(default_factory=list)
    ipv4_address: str = ""
    ipv6_address: str = ""
    links: list[str] = field(default_factory=list)
    mac_address: str = ""
    driver_opts: dict[str, str] = field(default_factory=dict)
    link_local_ips: list[str] = field(default_factory=list)
    gw_priority: int = 0  # API 1.48


@dataclass
class NetworkingConfig:
    endpoints_config: dict[str, EndpointConfig] = field(default_factory=dict)


# ------------------------------------------------------------------- state


@dataclass
class MountPlan:
    """A user mount (`-v`, `--mount`, an image VOLUME) as planned at create
    (mounts.py); a volume's host path is resolved at each start."""

    type: str  # "bind" | "volume"
    destination: str
    source: str = ""  # host path (bind; volume once mounted)
    name: str = ""  # volume name ("" until the anonymous volume exists)
    rw: bool = True
    mode: str = ""
    propagation: str = ""
    driver: str = ""
    copy_data: bool = True  # copy the image's content into an empty volume
    anonymous: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> MountPlan:
        return MountPlan(**d)


@dataclass
class EndpointSettings:
    """A network as the network service attached it, kept for inspect: what
    was asked for always, the live addresses while the container runs."""

    network_name: str = ""
    network_id: str = ""
    endpoint_id: str = ""
    gateway: str = ""
    ip_address: str = ""
    ip_prefix_len: int = 0
    ipv6_gateway: str = ""
    global_ipv6_address: str = ""
    global_ipv6_prefix_len: int = 0
    mac_address: str = ""
    aliases: list[str] = field(default_factory=list)
    dns_names: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    driver_opts: dict[str, str] = field(default_factory=dict)
    ipam_config: EndpointConfig = field(default_factory=EndpointConfig)
    gw_priority: int = 0


@dataclass
class NetworkSettings:
    sandbox_id: str = ""
    sandbox_key: str = ""  # network namespace path
    ports: dict[str, PortBindings] = field(default_factory=dict)
    networks: dict[str, EndpointSettings] = field(default_factory=dict)


@dataclass
class HealthResult:
    """One probe, as in State.Health.Log."""

    start: datetime
    end: datetime
    exit_code: int
    output: str


@dataclass
class Health:
    status: str = "starting"  # starting, healthy, unhealthy
    failing_streak: int = 0
    log: list[HealthResult] = field(default_factory=list)  # the last five probes


RUNNING = ("running", "paused", "restarting")


@dataclass
class State:
    status: str = "created"  # created, running, paused, restarting, removing, exited, dead
    pid: int = 0
    conmon_pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: float = 0.0  # unix seconds; 0: never
    finished_at: float = 0.0
    health: Health | None = None  # None: no health checks

    @property
    def running(self) -> bool:
        return self.status in RUNNING


@dataclass
class Container:
    id: str  # 64 hex digits
    name: str  # without the leading "/"
    created: float  # unix seconds
    image: str  # the reference the user gave
    image_id: str  # "sha256:..."
    config: ContainerConfig  # merged with the image's
    host_config: HostConfig
    networking_config: NetworkingConfig = field(default_factory=NetworkingConfig)
    platform: str = "linux"
    path: str = ""
    args: list[str] = field(default_factory=list)
    state: State = field(default_factory=State)
    restart_count: int = 0
    stopped_by_user: bool = False
    mounts: list[MountPlan] = field(default_factory=list)
    upper_dir: str = ""  # the writable layer (for `docker ps -s`)
    image_size: int = 0
    rootfs_path: str = ""
    hosts_path: str = ""
    hostname_path: str = ""
    resolv_conf_path: str = ""
    network_settings: NetworkSettings = field(default_factory=NetworkSettings)
    # Kernel state held for the container while it runs (for teardown).
    rootfs_mounted: bool = False
    sandbox_active: bool = False
    volumes_mounted: bool = False


@dataclass
class ContainerView:
    """A container as Get and List show it: the record and what is
    computed on demand."""

    container: Container
    size_rw: int = -1  # -1: not computed
    size_root_fs: int = -1
    exec_ids: list[str] = field(default_factory=list)


# -------------------------------------------------------------------- exec


@dataclass
class ExecConfig:
    """`docker exec`'s options (ExecCreate)."""

    container: str  # id, unique id prefix or name
    cmd: list[str]
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    tty: bool = False
    env: list[str] = field(default_factory=list)
    privileged: bool = False
    user: str = ""
    working_dir: str = ""
    console_size: list[int] = field(default_factory=list)


# ------------------------------------------------------------- observation


@dataclass
class PathStat:
    """A path in a container, as X-Docker-Container-Path-Stat describes it."""

    name: str
    size: int
    mode: int  # Go's os.FileMode bits
    mtime: datetime
    link_target: str = ""


@dataclass
class NetworkCounters:
    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0


@dataclass
class StatsSample:
    """Raw counters; the gateway shapes them into Docker's stats JSON."""

    read_ns: int = 0  # unix nanoseconds
    cpu_total_usage: int = 0
    cpu_usage_in_kernelmode: int = 0
    cpu_usage_in_usermode: int = 0
    system_cpu_usage: int = 0
    online_cpus: int = 0
    memory_usage: int = 0
    memory_limit: int = 0
    pids_current: int = 0
    pids_limit: int = 0
    memory_stats: dict[str, int] = field(default_factory=dict)
    networks: dict[str, NetworkCounters] = field(default_factory=dict)
    blkio_read_bytes: int = 0
    blkio_write_bytes: int = 0
