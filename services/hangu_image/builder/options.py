"""What a build is asked to do: the query of Docker's POST /build, typed
(the servicer makes one of the BuildOptions message)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..platforms import Platform
from ..registry import Credentials


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class RunLimits:
    """What every RUN container gets, as `docker run` would."""

    network_mode: str = ""
    extra_hosts: tuple[str, ...] = ()
    shm_size: int = 0
    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpuset_cpus: str = ""
    cpuset_mems: str = ""
    cpu_period: int = 0
    cpu_quota: int = 0
    ulimits: tuple[Ulimit, ...] = ()
    cgroup_parent: str = ""
    security_opt: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildOptions:
    dockerfile: str = ""
    tags: tuple[str, ...] = ()
    quiet: bool = False
    no_cache: bool = False
    pull: bool = False
    remove: bool = True
    force_remove: bool = False
    # A value of None: given without one (`--build-arg NAME` with NAME unset
    # in the client's environment), which keeps the ARG's default.
    build_args: dict[str, str | None] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    target: str = ""
    limits: RunLimits = field(default_factory=RunLimits)
    platform: Platform | None = None
    cache_from: tuple[str, ...] = ()
    registry_auths: dict[str, Credentials] = field(default_factory=dict)
    remote: str = ""
