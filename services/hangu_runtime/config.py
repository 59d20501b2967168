"""Configuration: defaults, overridden by an optional TOML file, overridden
by environment variables. Every path hangu uses derives from `root` and
`run`, so moving those two moves everything (tests rely on that)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path

SERVICES = ("image", "container", "network", "volume")


@dataclass(frozen=True)
class Settings:
    root: Path = Path("/var/lib/hangu")
    run: Path = Path("/run/hangu")
    # Default bridge network.
    bridge: str = "hangu0"
    # Pool the default bridge's subnet is picked from; subnets a host route
    # already uses are skipped.
    subnet_pool: str = "10.88.0.0/16,10.89.0.0/16,10.90.0.0/16,172.29.0.0/16,192.168.215.0/24"
    # nftables table (family inet) holding all of hangu's rules.
    nft_table: str = "hangu"
    runtime: str = "runc"
    conmon: str = "conmon"
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


_ENV = {
    "root": "HANGU_ROOT",
    "run": "HANGU_RUN",
    "bridge": "HANGU_BRIDGE",
    "subnet_pool": "HANGU_SUBNET_POOL",
    "nft_table": "HANGU_NFT_TABLE",
    "runtime": "HANGU_RUNTIME",
    "conmon": "HANGU_CONMON",
    "log_level": "HANGU_LOG_LEVEL",
    "grpc_workers": "HANGU_GRPC_WORKERS",
    "grpc_max_concurrent": "HANGU_GRPC_MAX_CONCURRENT",
    "insecure_registries": "HANGU_INSECURE_REGISTRIES",
    "registry_mirrors": "HANGU_REGISTRY_MIRRORS",
    "certs_d": "HANGU_CERTS_D",
}


def _coerce(name: str, value: object) -> object:
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind == "Path":
        return Path(str(value))
    if kind == "int":
        return int(str(value))
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
                if key in _ENV:
                    values[key] = _coerce(key, value)
    for key, var in _ENV.items():
        if var in env and env[var] != "":
            values[key] = _coerce(key, env[var])
    return Settings(**values)  # type: ignore[arg-type]
