"""Docker's default capability set, cap_add/cap_drop, and the host's
bounding set (a capability the host lacks can never be granted: this host's
bounding set has no CAP_SYS_RESOURCE, and runc would fail on it)."""

from __future__ import annotations

from functools import lru_cache

from hangu_runtime.errors import InvalidArgument

# Numbers from linux/capability.h; index = capability number.
ALL_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
]

DEFAULT_CAPS = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]


def _normalize(name: str) -> str:
    name = name.strip().upper()
    if name == "ALL":
        return name
    if not name.startswith("CAP_"):
        name = "CAP_" + name
    if name not in ALL_CAPS:
        raise InvalidArgument(f"unknown capability: {name!r}")
    return name


@lru_cache(maxsize=1)
def host_bounding_set(status_path: str = "/proc/self/status") -> frozenset[str]:
    """Capabilities in this process's bounding set (CapBnd)."""
    with open(status_path) as fh:
        for line in fh:
            if line.startswith("CapBnd:"):
                mask = int(line.split()[1], 16)
                return frozenset(c for i, c in enumerate(ALL_CAPS) if mask & (1 << i))
    return frozenset(ALL_CAPS)


def effective_caps(
    cap_add: list[str],
    cap_drop: list[str],
    privileged: bool,
    bounding: frozenset[str] | None = None,
) -> list[str]:
    """The capability list for every set (bounding, effective, permitted),
    in Docker's order, clamped to what the host can give."""
    host = host_bounding_set() if bounding is None else bounding
    if privileged:
        return [c for c in ALL_CAPS if c in host]
    adds = [_normalize(c) for c in cap_add]
    drops = [_normalize(c) for c in cap_drop]
    if "ALL" in adds:
        caps = list(ALL_CAPS)
    else:
        caps = list(DEFAULT_CAPS)
        caps += [c for c in adds if c not in caps]
    if "ALL" in drops:
        # Docker: drop ALL then add back the explicitly added ones.
        caps = [c for c in adds if c != "ALL"] if "ALL" not in adds else []
    else:
        caps = [c for c in caps if c not in drops]
    return [c for c in caps if c in host]
