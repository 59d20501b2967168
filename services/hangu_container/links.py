"""Docker's legacy links (`--link name[:alias]` on the default bridge): the
form dockerd stores them in (`/target:/me/alias`), the environment a start
gives the linking container (moby `daemon/links/links.go`), and the refusal
of a link to a container that is not running. (The hosts lines are the
network service's; on user networks a link is only a DNS alias there.)
Pure: the caller passes a lookup of containers."""

from __future__ import annotations

from collections.abc import Callable

from hangu_runtime.errors import Internal

from .model import Container

DEFAULT_BRIDGE = ("", "default", "bridge")


def split(link: str) -> tuple[str, str]:
    """(target, alias) of `name[:alias]` or of dockerd's `/name:/me/alias`."""
    target, _, alias = link.partition(":")
    target = target.strip("/")
    return target, (alias.rsplit("/", 1)[-1] if alias else target)


def stored(links: list[str], me: str, lookup: Callable[[str], Container]) -> list[str]:
    """HostConfig.Links as dockerd keeps them: `/<target name>:/<me>/<alias>`."""
    out = []
    for link in links:
        target, alias = split(link)
        out.append(f"/{lookup(target).name}:/{me}/{alias}")
    return out


def _sort_key(port: tuple[int, str]) -> tuple[int, str, int]:
    """moby's withTCPPriority: tcp first by number, then by protocol name
    and number."""
    num, proto = port
    return (0, "", num) if proto == "tcp" else (1, proto, num)


def port_env(alias: str, ip: str, exposed: list[str]) -> list[str]:
    ports = []
    for spec in exposed:
        number, _, protocol = spec.partition("/")
        try:
            ports.append((int(number), (protocol or "tcp").lower()))
        except ValueError:
            continue
    ports.sort(key=_sort_key)
    env: list[str] = []
    if not ports:
        return env
    start = end = ports[0]
    env.append(f"{alias}_PORT={start[1]}://{ip}:{start[0]}")
    for i, (num, proto) in enumerate(ports):
        prefix = f"{alias}_PORT_{num}_{proto.upper()}"
        env += [
            f"{prefix}={proto}://{ip}:{num}",
            f"{prefix}_ADDR={ip}",
            f"{prefix}_PORT={num}",
            f"{prefix}_PROTO={proto}",
        ]
        if num == end[0] + 1 and proto == end[1]:
            end = (num, proto)
            if i < len(ports) - 1:
                continue
        if end != start:
            prefix = f"{alias}_PORT_{start[0]}_{start[1].upper()}"
            env += [
                f"{prefix}_START={start[1]}://{ip}:{start[0]}",
                f"{prefix}_PORT_START={start[0]}",
                f"{prefix}_END={end[1]}://{ip}:{end[0]}",
                f"{prefix}_PORT_END={end[0]}",
            ]
        start = end = (num, proto)
    return env


def link_env(name: str, ip: str, env: list[str], exposed: list[str]) -> list[str]:
    """One link's variables; `name` is `/me/alias`."""
    alias = name.rsplit("/", 1)[-1].upper().replace("-", "_")
    out = port_env(alias, ip, exposed)
    out.append(f"{alias}_NAME={name}")
    for item in env:
        key, sep, value = item.partition("=")
        if sep and key not in ("HOME", "PATH"):
            out.append(f"{alias}_ENV_{key}={value}")
    return out


def start_env(ctr: Container, lookup: Callable[[str], Container]) -> list[str]:
    """Every link's variables for a start on the default bridge; a target
    that is not running refuses the start (dockerd's 500)."""
    if ctr.host_config.network_mode not in DEFAULT_BRIDGE:
        return []
    out: list[str] = []
    for link in ctr.host_config.links:
        target_ref, alias = split(link)
        target = lookup(target_ref)
        name = f"/{ctr.name}/{alias}"
        if not target.state.running:
            raise Internal(f"Cannot link to a non running container: /{target.name} AS {name}")
        bridge = target.network_settings.networks.get("bridge")
        ip = bridge.ip_address if bridge is not None else ""
        out += link_env(name, ip, list(target.config.env), list(target.config.exposed_ports))
    return out
