"""What HostConfig asks of the host beyond the container's own namespaces:
the runtime and log driver by name, the IPC/PID/UTS modes (`host`,
`container:<x>`, IPC `private`/`shareable`/`none`), checked at create and
resolved at start as dockerd does, word for word (moby
`daemon/daemon_unix.go` verifyPlatformContainerSettings,
`daemon/container_operations_unix.go` getIpcContainer/getPidContainer).
Pure: the caller passes a lookup of containers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from hangu_runtime.errors import Internal, InvalidArgument, NotFound

from .model import Container, HostConfig

# The runtimes `docker info` lists (hangu runs runc through conmon), and the
# containerd shim name that current Docker also takes for runc.
RUNTIMES = ("runc", "io.containerd.runc.v2")
DEFAULT_RUNTIME = "runc"
# The log drivers hangu writes: conmon's k8s-file log read back as json-file
# (and as local, the same reader); `none` keeps nothing to read.
LOG_DRIVERS = ("json-file", "local", "none", "k8s-file")
IPC_MODES = ("", "private", "shareable", "none", "host")
# dockerd's default-ipc-mode since 20.10, stored when none is asked for.
DEFAULT_IPC_MODE = "private"


def joined(mode: str) -> str:
    """The container named by a `container:<x>` mode ("" otherwise)."""
    kind, _, ref = mode.partition(":")
    return ref if kind == "container" else ""


def _is_container_mode(mode: str) -> bool:
    return mode.startswith("container:") and bool(joined(mode))


def check(hc: HostConfig, exists: Callable[[str], bool]) -> HostConfig:
    """HostConfig as dockerd stores it, or dockerd's refusal (all 400)."""
    runtime = hc.runtime or DEFAULT_RUNTIME
    if runtime not in RUNTIMES:
        raise InvalidArgument(f"unknown or invalid runtime name: {hc.runtime}")
    driver = hc.log_config.type
    if driver and driver not in LOG_DRIVERS:
        raise InvalidArgument(f"logger: no log driver named '{driver}' is registered")
    if hc.ipc_mode not in IPC_MODES and not _is_container_mode(hc.ipc_mode):
        raise InvalidArgument(f"invalid IPC mode: {hc.ipc_mode}")
    if hc.pid_mode not in ("", "host") and not _is_container_mode(hc.pid_mode):
        raise InvalidArgument(f"invalid PID mode: {hc.pid_mode}")
    if hc.uts_mode not in ("", "host"):
        raise InvalidArgument(f"invalid UTS mode: {hc.uts_mode}")
    for mode in (hc.ipc_mode, hc.pid_mode):
        ref = joined(mode)
        # dockerd looks the donor up at create (a 400, so that the CLI
        # does not take it for a missing image and pull).
        if ref and not exists(ref):
            raise InvalidArgument(f"No such container: {ref}")
    return dataclasses.replace(hc, runtime=runtime, ipc_mode=hc.ipc_mode or DEFAULT_IPC_MODE)


@dataclass
class Joined:
    """Namespaces of other containers that a start joins, and the /dev/shm
    that goes with a joined IPC namespace."""

    namespaces: dict[str, str] = dataclasses.field(default_factory=dict)  # type -> path
    shm_source: str = ""


def resolve(hc: HostConfig, lookup: Callable[[str], Container]) -> Joined:
    """The `container:<x>` namespaces of a start: x must be running (and
    shareable, for IPC); dockerd's messages (500s, as dockerd's)."""
    out = Joined()
    ipc_ref = joined(hc.ipc_mode)
    if ipc_ref:
        prefix = f"can't join IPC of container {ipc_ref}"
        try:
            donor = lookup(ipc_ref)
        except NotFound as err:
            raise Internal(f"{prefix}: {err}") from None
        prefix = f"can't join IPC of container {donor.id}"
        if not donor.state.running or not donor.state.pid:
            raise Internal(f"{prefix}: container {donor.id} is not running")
        if donor.host_config.ipc_mode != "shareable":
            raise Internal(
                f"{prefix}: non-shareable IPC (hint: use IpcMode:shareable for the donor container)"
            )
        out.namespaces["ipc"] = f"/proc/{donor.state.pid}/ns/ipc"
        # The donor's /dev/shm is a mount of its own mount namespace, which
        # cannot be bound from here (EINVAL): the joiner gets a tmpfs of its
        # own until shareable containers keep theirs on the host, as
        # dockerd's do. SysV IPC and message queues are shared.
    pid_ref = joined(hc.pid_mode)
    if pid_ref:
        try:
            donor = lookup(pid_ref)
        except NotFound as err:
            raise Internal(str(err)) from None
        if not donor.state.running or not donor.state.pid:
            raise Internal(f"container {donor.id} is not running")
        out.namespaces["pid"] = f"/proc/{donor.state.pid}/ns/pid"
    return out
