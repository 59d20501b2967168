"""Per-interface sysctls of an endpoint: the driver option
`com.docker.network.endpoint.sysctls` (API 1.46 and later), a comma-separated
list of `net.ipv4.conf.IFNAME.log_martians=1`-style assignments, IFNAME
standing for the interface's name in the container (the CLI's --network
long form sends it lowercased). Written inside the container's namespace
once the interface is there."""

from __future__ import annotations

from collections.abc import Mapping

from hangu_runtime.errors import InvalidArgument

SYSCTLS_OPT = "com.docker.network.endpoint.sysctls"
_PREFIXES = ("net.ipv4.", "net.ipv6.", "net.mpls.")


def parse(driver_opts: Mapping[str, str]) -> list[tuple[list[str], str]]:
    """(key as its components, with IFNAME where the name goes; value) of
    each assignment; refused with a 400 when one is not such an assignment."""
    text = driver_opts.get(SYSCTLS_OPT, "")
    out = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, eq, value = item.partition("=")
        parts = key.strip().split(".")
        if (
            not eq
            or not key.strip().lower().startswith(_PREFIXES)
            or [p.upper() for p in parts].count("IFNAME") != 1
            or any(not p or "/" in p for p in parts)
        ):
            raise InvalidArgument(
                f"invalid sysctl '{item}' in driver option {SYSCTLS_OPT}: each must be "
                "key=value, the key starting with net.ipv4., net.ipv6. or net.mpls. and "
                "naming the interface IFNAME"
            )
        out.append(([p if p.upper() != "IFNAME" else "IFNAME" for p in parts], value.strip()))
    return out


def paths(driver_opts: Mapping[str, str], ifname: str) -> list[tuple[str, str]]:
    """(/proc/sys path, value) of each assignment for that interface."""
    return [
        ("/proc/sys/" + "/".join(ifname if p == "IFNAME" else p for p in parts), value)
        for parts, value in parse(driver_opts)
    ]
