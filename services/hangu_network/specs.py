"""What `docker network create` asks for, as the service takes it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PoolSpec:
    """One entry of IPAM.Config."""

    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    aux_addresses: dict[str, str] = field(default_factory=dict)

    @property
    def version(self) -> int:
        return 6 if ":" in (self.subnet or self.gateway or self.ip_range) else 4


@dataclass
class NetworkSpec:
    name: str
    driver: str = "bridge"
    internal: bool = False
    attachable: bool = False
    enable_ipv6: bool = False
    pools: list[PoolSpec] = field(default_factory=list)  # IPAM Config, as asked
    ipam_driver: str = ""
    ipam_options: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    config_only: bool = False  # --config-only (configonly.py)
    config_from: str = ""  # --config-from: a configuration network's name or id
