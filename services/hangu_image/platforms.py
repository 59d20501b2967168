"""Platforms: the host's, parsing `os/arch[/variant]`, and choosing one
manifest out of a manifest list or OCI index the way Docker does."""

from __future__ import annotations

import platform as _platform
from dataclasses import dataclass
from typing import Any

from hangu_runtime.errors import InvalidArgument, NotFound

_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i386": "386",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


@dataclass(frozen=True)
class Platform:
    os: str = "linux"
    architecture: str = ""
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def normalized(self) -> Platform:
        arch = _ARCH.get(self.architecture, self.architecture)
        variant = self.variant
        if arch == "arm64" and variant in ("v8", "8"):
            variant = ""
        if arch == "arm" and not variant:
            variant = "v7"
        if arch == "amd64" and variant == "v1":
            variant = ""
        return Platform(self.os or "linux", arch, variant)


def host_platform() -> Platform:
    machine = _platform.machine()
    arch = _ARCH.get(machine, machine)
    variant = {"armv7l": "v7", "armv6l": "v6"}.get(machine, "")
    return Platform("linux", arch, variant)


def parse_platform(text: str) -> Platform:
    """ "linux/arm64/v8" → Platform; empty → the host's."""
    if not text:
        return host_platform()
    parts = text.lower().split("/")
    if len(parts) > 3 or not all(parts):
        raise InvalidArgument(f"invalid platform {text!r}")
    if len(parts) == 1:
        if parts[0] == "linux":
            return host_platform()
        return Platform("linux", parts[0]).normalized()
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "").normalized()


def matches(want: Platform, have: dict[str, Any]) -> bool:
    got = Platform(
        have.get("os", ""), have.get("architecture", ""), have.get("variant", "")
    ).normalized()
    want = want.normalized()
    if got.os != want.os or got.architecture != want.architecture:
        return False
    return not want.variant or not got.variant or got.variant == want.variant


def select_manifest(index: dict[str, Any], want: Platform) -> dict[str, Any]:
    """The descriptor in a manifest list/OCI index for platform `want`.
    Exact variant matches win over entries without a variant."""
    candidates = [d for d in index.get("manifests", []) if matches(want, d.get("platform") or {})]
    want_n = want.normalized()
    for desc in candidates:
        p = desc["platform"]
        got = Platform(p.get("os", ""), p.get("architecture", ""), p.get("variant", ""))
        if got.normalized().variant == want_n.variant:
            return dict(desc)
    if candidates:
        return dict(candidates[0])
    raise NotFound(f"no matching manifest for {want_n} in the manifest list entries")
