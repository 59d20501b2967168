"""Docker's default seccomp profile, converted to the OCI runtime spec form.

The JSON is parsed once per process; the conversion depends only on the
capability set (includes/excludes by capability), so each distinct set is
converted once and cached. Containers with Docker's default capabilities
all share one converted profile."""

from __future__ import annotations

import json
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

# A copy of Docker's profile ships beside this module (a fresh clone has no
# /work/shared); HANGU_SECCOMP_PROFILE points at another one.
_BUNDLED = Path(__file__).with_name("seccomp-default.json")

# Go's GOARCH names (used by the profile's includes/excludes) and the
# libseccomp architecture of each.
_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "i686": "386",
}
_SCMP_ARCH = {
    "amd64": "SCMP_ARCH_X86_64",
    "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
    "386": "SCMP_ARCH_X86",
}


def host_arch() -> str:
    return _GOARCH.get(platform.machine(), platform.machine())


def _kernel_version() -> tuple[int, int]:
    parts = platform.release().split("-")[0].split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return (0, 0)


# Settings.seccomp_profile, set once at start-up by use_profile (the profile
# is prepared once per process, so it is a process-wide choice).
_configured = ""


def use_profile(path: str) -> None:
    """Use the profile at `path` (empty: the bundled one) from now on."""
    global _configured
    if path != _configured:
        _configured = path
        load_profile.cache_clear()
        default_for_caps.cache_clear()


@lru_cache(maxsize=4)
def load_profile(path: str | None = None) -> dict[str, Any]:
    """The Docker-format profile, read once."""
    override = path or _configured
    candidates = [Path(override)] if override else [_BUNDLED]
    for candidate in candidates:
        if candidate.exists():
            data: dict[str, Any] = json.loads(candidate.read_text())
            return data
    raise FileNotFoundError(f"seccomp profile not found: {candidates}")


def _kernel_at_least(version: str, kernel: tuple[int, int]) -> bool:
    major, _, minor = version.partition(".")
    return kernel >= (int(major), int(minor or 0))


def convert(
    profile: dict[str, Any],
    caps: frozenset[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Docker profile → OCI `linux.seccomp`, for one capability set."""
    arch = arch or host_arch()
    kernel = kernel or _kernel_version()
    native = _SCMP_ARCH.get(arch)
    architectures: list[str] = []
    for entry in profile.get("archMap") or []:
        if entry["architecture"] == native:
            architectures = [entry["architecture"], *entry.get("subArchitectures", [])]
    syscalls = []
    for rule in profile.get("syscalls", []):
        inc = rule.get("includes") or {}
        exc = rule.get("excludes") or {}
        if inc.get("arches") and arch not in inc["arches"]:
            continue
        if inc.get("caps") and not all(c in caps for c in inc["caps"]):
            continue
        if inc.get("minKernel") and not _kernel_at_least(inc["minKernel"], kernel):
            continue
        if exc.get("arches") and arch in exc["arches"]:
            continue
        if exc.get("caps") and any(c in caps for c in exc["caps"]):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        out: dict[str, Any] = {"names": list(names), "action": rule["action"]}
        if rule.get("errnoRet") is not None:
            out["errnoRet"] = rule["errnoRet"]
        if rule.get("args"):
            out["args"] = [
                {
                    "index": a["index"],
                    "value": a["value"],
                    "valueTwo": a.get("valueTwo", 0),
                    "op": a["op"],
                }
                for a in rule["args"]
            ]
        syscalls.append(out)
    spec: dict[str, Any] = {
        "defaultAction": profile["defaultAction"],
        "architectures": architectures,
        "syscalls": syscalls,
    }
    if profile.get("defaultErrnoRet") is not None:
        spec["defaultErrnoRet"] = profile["defaultErrnoRet"]
    return spec


@lru_cache(maxsize=32)
def default_for_caps(caps: frozenset[str]) -> dict[str, Any]:
    """The converted default profile for a capability set (cached; callers
    must not mutate the result)."""
    return convert(load_profile(), caps)
