"""Configuration: defaults, overridden by an optional TOML file, overridden
by environment variables. Every path hangu uses derives from `root` and
`run`, so moving those two moves everything (tests rely on that).

Every knob of every hangu process is a field of `Settings`; its variable is
HANGU_<FIELD> (and its TOML key the field name, `-` or `_`). This module is
the only one that reads the process environment: `load_settings` for the
knobs, `inherited_environment`/`search_path` for child processes, and
`client_host` for the CLI's HANGU_HOST (a client option, like DOCKER_HOST,
not a setting of the engine)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

SERVICES = ("image", "container", "network", "volume")

# PATH for a child process when this process has none.
DEFAULT_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Settings:
    root: Path = Path("/var/lib/hangu")
    run: Path = Path("/run/hangu")
    # Default bridge network.
    bridge: str = "hangu0"
    # Docker's default-address-pools, written `base:size,...`: the default
    # bridge's and every user network's subnet without --subnet is the first
    # one free of host routes and other networks. These are dockerd's own
    # 31 (fifteen /16s of 172.17.0.0/12, sixteen /20s of 192.168.0.0/16).
    subnet_pool: str = (
        "172.17.0.0/16:16,172.18.0.0/16:16,172.19.0.0/16:16,172.20.0.0/14:16,"
        "172.24.0.0/14:16,172.28.0.0/14:16,192.168.0.0/16:20"
    )
    # dockerd's daemon-wide "dns", "dns-search", "dns-opts": what a
    # container without --dns/--dns-search/--dns-option gets (empty: the
    # host's resolv.conf), and the upstreams of the resolver of user networks.
    dns: tuple[str, ...] = field(default_factory=tuple)
    dns_search: tuple[str, ...] = field(default_factory=tuple)
    dns_options: tuple[str, ...] = field(default_factory=tuple)
    # nftables table (family inet) holding all of hangu's rules.
    nft_table: str = "hangu"
    runtime: str = "runc"
    conmon: str = "conmon"
    # The host binary `--init` bind-mounts as /sbin/docker-init (a name on
    # PATH or a path). Empty: tini-static, docker-init, then tini.
    init_path: str = ""
    log_level: str = "info"
    # Thread pool and concurrency cap of each gRPC server.
    grpc_workers: int = 512
    grpc_max_concurrent: int = 480
    # Registries reachable over plain HTTP (loopback is always allowed).
    insecure_registries: tuple[str, ...] = field(default_factory=tuple)
    registry_mirrors: tuple[str, ...] = field(default_factory=tuple)
    # Per-registry TLS material, as Docker's /etc/docker/certs.d:
    # <certs_d>/<host:port>/{*.crt CAs, *.cert/*.key client pairs}.
    # Empty: <root>/image/certs.d.
    certs_d: str = ""
    # On stop, remove the kernel state a service owns (containers, mounts,
    # namespaces, bridges, rules). Off: containers outlive the services.
    purge_on_stop: bool = False
    # cgroup (v2 path, v1 parent) that holds every container's cgroup.
    cgroup_parent: str = "/hangu"
    # A Docker-format seccomp profile to use instead of the bundled one.
    seccomp_profile: str = ""
    # Supervisor: seconds a service has to answer after it starts, and to
    # exit after SIGTERM; the size at which each service log is rotated.
    start_timeout: float = 60.0
    stop_timeout: float = 30.0
    log_max_bytes: int = 20 * 1024 * 1024

    @property
    def grpc_dir(self) -> Path:
        return self.run / "grpc"

    @property
    def docker_socket(self) -> Path:
        return self.run / "hangu.sock"

    def grpc_socket(self, service: str) -> Path:
        return self.grpc_dir / f"{service}.sock"

    def grpc_target(self, service: str) -> str:
        return f"unix://{self.grpc_socket(service)}"

    def data_dir(self, service: str) -> Path:
        """Data folder a service owns alone."""
        return self.root / service

    def run_dir(self, service: str) -> Path:
        """Run-time (tmpfs) folder a service owns alone."""
        return self.run / service


def env_var(name: str) -> str:
    """The environment variable of a Settings field."""
    return f"HANGU_{name.upper()}"


_KINDS = {f.name: str(f.type) for f in fields(Settings)}
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _coerce(name: str, value: object) -> object:
    kind = _KINDS[name]
    if kind == "Path":
        return Path(str(value))
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text not in _TRUE + _FALSE:
            raise ValueError(f"{env_var(name)}: expected 1/0, true/false, got {value!r}")
        return text in _TRUE
    if kind == "int":
        return int(str(value))
    if kind == "float":
        return float(str(value))
    if kind.startswith("tuple"):
        if isinstance(value, (list, tuple)):
            return tuple(str(v) for v in value)
        return tuple(v.strip() for v in str(value).split(",") if v.strip())
    return str(value)


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Settings from HANGU_CONFIG (a TOML file, optional) and HANGU_* variables."""
    env = dict(os.environ if env is None else env)
    values: dict[str, object] = {}
    config_file = env.get("HANGU_CONFIG")
    if config_file:
        with open(config_file, "rb") as fh:
            for key, value in tomllib.load(fh).items():
                key = key.replace("-", "_")
                if key in _KINDS:
                    values[key] = _coerce(key, value)
    for key in _KINDS:
        var = env_var(key)
        if var in env and env[var] != "":
            values[key] = _coerce(key, env[var])
    # The values were coerced to each field's type above; mypy cannot see it.
    return Settings(**values)  # type: ignore[arg-type]  # typed by _coerce


def inherited_environment() -> dict[str, str]:
    """A copy of this process's environment, for a child that inherits it
    (the supervisor's services, which read their settings from it)."""
    return dict(os.environ)


def search_path() -> str:
    """PATH for a child started with an environment of its own (conmon)."""
    return os.environ.get("PATH") or DEFAULT_PATH


def client_host(default: str) -> str:
    """The CLI's engine address: HANGU_HOST, as the docker CLI's DOCKER_HOST
    (a client option, so not a field of the engine's Settings)."""
    return os.environ.get("HANGU_HOST") or default
