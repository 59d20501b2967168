"""The container service's database (SQLModel): one row per container.

Configs are stored as serialized protobuf messages (ContainerConfig,
HostConfig, NetworkingConfig, NetworkSettings): they are Docker's config
shapes already, and the service never queries inside them."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class ContainerRow(SQLModel, table=True):
    __tablename__ = "containers"

    id: str = Field(primary_key=True)
    name: str = Field(index=True, unique=True)
    created: float = 0.0
    image: str = ""  # the reference the user gave
    image_id: str = ""
    platform: str = "linux"
    config: bytes = b""  # merged ContainerConfig
    host_config: bytes = b""
    networking_config: bytes = b""
    path: str = ""
    args_json: str = "[]"
    status: str = "created"  # created, running, paused, restarting, removing, exited, dead
    pid: int = 0
    conmon_pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: float = 0.0
    finished_at: float = 0.0
    restart_count: int = 0
    rootfs_path: str = ""
    upper_dir: str = ""  # the writable layer (for `docker ps -s`)
    image_size: int = 0
    hosts_path: str = ""
    hostname_path: str = ""
    resolv_conf_path: str = ""
    network_settings: bytes = b""  # NetworkSettings
    mounts_json: str = "[]"  # [MountPlan as dict]
    stopped_by_user: bool = False
    # Kernel state held for the container while it runs (for teardown).
    rootfs_mounted: bool = False
    sandbox_active: bool = False
    volumes_mounted: bool = False
    # Health check: "", "starting", "healthy", "unhealthy", and its log
    # ({"FailingStreak": n, "Log": [...]}).
    health_status: str = ""
    health_json: str = "{}"
