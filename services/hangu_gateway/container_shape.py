"""Container messages shaped as Docker's JSON: the list entry of
GET /containers/json and the document of GET /containers/{id}/json."""

from __future__ import annotations

import time
from typing import Any

from google.protobuf.message import Message

from hangu.container.v1 import container_pb2 as cpb
from hangu_runtime.times import is_zero, rfc3339, unix
from hangu_runtime.units import human_duration

from . import versions
from .container_fields import CONFIG_PLAIN, HOST_PLAIN


def _plain(msg: Message, table: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, field in table:
        value = getattr(msg, field)
        if hasattr(value, "items"):
            out[key] = dict(value)
        elif hasattr(value, "extend"):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def config_json(cfg: cpb.ContainerConfig) -> dict[str, Any]:
    out = _plain(cfg, CONFIG_PLAIN)
    out["Cmd"] = list(cfg.cmd.values) if cfg.HasField("cmd") else None
    out["Entrypoint"] = list(cfg.entrypoint.values) if cfg.HasField("entrypoint") else None
    out["Env"] = list(cfg.env) or None
    out["OnBuild"] = list(cfg.on_build) or None
    out["Volumes"] = {v: {} for v in cfg.volumes} or None
    if cfg.exposed_ports:
        out["ExposedPorts"] = {p: {} for p in cfg.exposed_ports}
    if cfg.HasField("stop_timeout"):
        out["StopTimeout"] = cfg.stop_timeout
    if not cfg.shell:
        del out["Shell"]
    if not cfg.mac_address:
        del out["MacAddress"]
    if not cfg.network_disabled:
        del out["NetworkDisabled"]
    if not cfg.stop_signal:
        del out["StopSignal"]
    if cfg.HasField("healthcheck") and cfg.healthcheck.test:
        h = cfg.healthcheck
        fields = {
            "Interval": h.interval_ns,
            "Timeout": h.timeout_ns,
            "StartPeriod": h.start_period_ns,
            "StartInterval": h.start_interval_ns,
            "Retries": h.retries,
        }
        # Docker's HealthConfig: every field but Test is omitempty
        out["Healthcheck"] = {"Test": list(h.test), **{k: v for k, v in fields.items() if v}}
    return out


def _bindings(ports: Any) -> dict[str, Any]:
    return {
        port: [{"HostIp": b.host_ip, "HostPort": b.host_port} for b in pb.bindings]
        for port, pb in ports.items()
    }


def host_config_json(hc: cpb.HostConfig) -> dict[str, Any]:
    out = _plain(hc, HOST_PLAIN)
    for key in (
        "Binds",
        "CapAdd",
        "CapDrop",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "Links",
        "SecurityOpt",
        "VolumesFrom",
        "DeviceCgroupRules",
    ):
        out[key] = out[key] or None
    out["NetworkMode"] = network_mode(hc.network_mode)
    out["ConsoleSize"] = list(hc.console_size) or [0, 0]
    out["LogConfig"] = {
        "Type": log_driver(hc.log_config.type),
        "Config": dict(hc.log_config.config),
    }
    out["PortBindings"] = _bindings(hc.port_bindings)
    out["RestartPolicy"] = {
        "Name": hc.restart_policy.name or "no",
        "MaximumRetryCount": hc.restart_policy.maximum_retry_count,
    }
    out["Mounts"] = [_mount_json(m) for m in hc.mounts] or None
    out["Devices"] = [
        {
            "PathOnHost": d.path_on_host,
            "PathInContainer": d.path_in_container,
            "CgroupPermissions": d.cgroup_permissions,
        }
        for d in hc.devices
    ]
    out["Ulimits"] = [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in hc.ulimits]
    out["MemorySwappiness"] = hc.memory_swappiness if hc.HasField("memory_swappiness") else None
    out["PidsLimit"] = hc.pids_limit or None
    out["Init"] = hc.init or None
    out["Isolation"] = hc.isolation
    out["CgroupnsMode"] = hc.cgroupns_mode or "host"
    for key in (
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "DeviceRequests",
    ):
        out[key] = [] if key != "DeviceRequests" else None
    out.update(
        {
            "CpuRealtimePeriod": 0,
            "CpuRealtimeRuntime": 0,
            "KernelMemoryTCP": 0,
            "CpuCount": 0,
            "CpuPercent": 0,
            "IOMaximumIOps": 0,
            "IOMaximumBandwidth": 0,
            "ContainerIDFile": hc.container_id_file,
            "Annotations": None,
        }
    )
    return out


def network_mode(mode: str) -> str:
    """dockerd (API >= 1.44) stores the CLI's "default" as "bridge"."""
    return "bridge" if mode in ("", "default") else mode


def log_driver(requested: str) -> str:
    """The log driver as clients see it. conmon's k8s-file log serves
    `docker logs` exactly as dockerd's json-file does, and clients decide by
    this name whether logs can be read back (docker-py's `containers.run`
    returns None for any other driver: a known complaint about podman)."""
    if requested in ("", "k8s-file", "json-file"):
        return "json-file"
    return requested


def _mount_json(m: cpb.Mount) -> dict[str, Any]:
    out: dict[str, Any] = {"Type": m.type, "Source": m.source, "Target": m.target}
    if m.read_only:
        out["ReadOnly"] = True
    if m.bind_propagation or m.bind_create_mountpoint:
        out["BindOptions"] = {
            "Propagation": m.bind_propagation,
            "CreateMountpoint": m.bind_create_mountpoint,
        }
    if m.type == "volume" and (m.volume_no_copy or m.volume_labels or m.volume_driver):
        out["VolumeOptions"] = {"NoCopy": m.volume_no_copy, "Labels": dict(m.volume_labels)}
    return out


def mount_points(c: cpb.Container) -> list[dict[str, Any]]:
    out = []
    for m in c.mounts:
        item: dict[str, Any] = {
            "Type": m.type,
            "Source": m.source,
            "Destination": m.destination,
            "Mode": m.mode,
            "RW": m.rw,
            "Propagation": m.propagation,
        }
        if m.type == "volume":
            item = {
                "Type": m.type,
                "Name": m.name,
                "Source": m.source,
                "Destination": m.destination,
                "Driver": m.driver or "local",
                "Mode": m.mode,
                "RW": m.rw,
                "Propagation": m.propagation,
            }
        out.append(item)
    return out


def endpoint_json(ep: cpb.EndpointSettings) -> dict[str, Any]:
    asked = ep.ipam_config
    # Docker's EndpointIPAMConfig omits each empty field (omitempty), and
    # is null when nothing was asked.
    shown = {
        "IPv4Address": asked.ipv4_address,
        "IPv6Address": asked.ipv6_address,
        "LinkLocalIPs": list(asked.link_local_ips),
    }
    ipam = {k: v for k, v in shown.items() if v} or None
    return {
        "IPAMConfig": ipam,
        "Links": list(ep.links) or None,
        "Aliases": list(ep.aliases) or None,
        "MacAddress": ep.mac_address,
        "DriverOpts": dict(ep.driver_opts) or None,
        "GwPriority": ep.gw_priority,
        "NetworkID": ep.network_id,
        "EndpointID": ep.endpoint_id,
        "Gateway": ep.gateway,
        "IPAddress": ep.ip_address,
        "IPPrefixLen": ep.ip_prefix_len,
        "IPv6Gateway": ep.ipv6_gateway,
        "GlobalIPv6Address": ep.global_ipv6_address,
        "GlobalIPv6PrefixLen": ep.global_ipv6_prefix_len,
        "DNSNames": list(ep.dns_names) or None,
    }


def port_map(c: cpb.Container) -> dict[str, Any]:
    """NetworkSettings.Ports: published ports with bindings, exposed ones null."""
    ports: dict[str, Any] = dict.fromkeys(c.config.exposed_ports)
    for port, pb in c.network_settings.ports.items():
        ports[port] = [{"HostIp": b.host_ip, "HostPort": b.host_port} for b in pb.bindings]
    return ports


def network_settings_json(c: cpb.Container) -> dict[str, Any]:
    ns = c.network_settings
    networks = {name: endpoint_json(ep) for name, ep in ns.networks.items()}
    default = ns.networks.get("bridge")
    return {
        "Bridge": "",
        "SandboxID": ns.sandbox_id,
        "SandboxKey": ns.sandbox_key,
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": port_map(c) if c.state.running else {},
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": default.endpoint_id if default else "",
        "Gateway": default.gateway if default else "",
        "GlobalIPv6Address": default.global_ipv6_address if default else "",
        "GlobalIPv6PrefixLen": default.global_ipv6_prefix_len if default else 0,
        "IPAddress": default.ip_address if default else "",
        "IPPrefixLen": default.ip_prefix_len if default else 0,
        "IPv6Gateway": default.ipv6_gateway if default else "",
        "MacAddress": default.mac_address if default else "",
        "Networks": networks,
    }


def health_json(h: cpb.Health) -> dict[str, Any]:
    """State.Health: the status, the failing streak and the last probes."""
    return {
        "Status": h.status,
        "FailingStreak": h.failing_streak,
        "Log": [
            {
                "Start": rfc3339(r.start),
                "End": rfc3339(r.end),
                "ExitCode": r.exit_code,
                "Output": r.output,
            }
            for r in h.log
        ],
    }


def state_json(s: cpb.ContainerState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Status": s.status or "created",
        "Running": s.running,
        "Paused": s.paused,
        "Restarting": s.restarting,
        "OOMKilled": s.oom_killed,
        "Dead": s.dead,
        "Pid": s.pid,
        "ExitCode": s.exit_code,
        "Error": s.error,
        "StartedAt": rfc3339(s.started_at),
        "FinishedAt": rfc3339(s.finished_at),
    }
    if s.HasField("health"):
        out["Health"] = health_json(s.health)
    return out


def inspect_json(c: cpb.Container, api_version: str = versions.API_VERSION) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": rfc3339(c.created),
        "Path": c.path,
        "Args": list(c.args),
        "State": state_json(c.state),
        "Image": c.image_id,
        "ResolvConfPath": c.resolv_conf_path,
        "HostnamePath": c.hostname_path,
        "HostsPath": c.hosts_path,
        "LogPath": c.log_path,
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": c.driver or "overlay2",
        "Platform": c.platform or "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": list(c.exec_ids) or None,
        "HostConfig": host_config_json(c.host_config),
        "GraphDriver": {
            "Name": c.driver or "overlay2",
            "Data": {"MergedDir": c.rootfs_path} if c.rootfs_path else None,
        },
        "Mounts": mount_points(c),
        "Config": config_json(c.config),
        "NetworkSettings": network_settings_json(c),
    }
    if c.size_rw >= 0 and (c.size_rw or c.size_root_fs):
        out["SizeRw"] = c.size_rw
        out["SizeRootFs"] = c.size_root_fs
    if versions.less_than(api_version, "1.44"):
        out["Config"].setdefault("MacAddress", "")
    return out


def status_text(s: cpb.ContainerState, now: float | None = None) -> str:
    """The STATUS column of `docker ps`."""
    now = time.time() if now is None else now
    started = s.started_at.seconds + s.started_at.nanos / 1e9
    finished = s.finished_at.seconds + s.finished_at.nanos / 1e9
    if s.running or s.status in ("running", "paused"):
        if s.paused or s.status == "paused":
            return f"Up {human_duration(now - started)} (Paused)"
        if s.restarting:
            return f"Restarting ({s.exit_code}) {human_duration(now - finished)} ago"
        health = ""
        if s.HasField("health"):
            status = s.health.status
            health = " (health: starting)" if status == "starting" else f" ({status})"
        return f"Up {human_duration(now - started)}{health}"
    if s.status == "removing":
        return "Removal In Progress"
    if s.status == "dead" or s.dead:
        return "Dead"
    if s.status == "restarting":
        return f"Restarting ({s.exit_code}) {human_duration(now - finished)} ago"
    if is_zero(s.started_at):
        return "Created"
    if is_zero(s.finished_at):
        return ""
    return f"Exited ({s.exit_code}) {human_duration(now - finished)} ago"


def _command(c: cpb.Container) -> str:
    cfg = c.config
    parts = [c.path, *c.args] if c.path else [*cfg.entrypoint.values, *cfg.cmd.values]
    return " ".join(parts)


def list_ports(c: cpb.Container) -> list[dict[str, Any]]:
    """A running container's ports as `ps` lists them; none for the others
    (dockerd lists them from the live NetworkSettings.Ports)."""
    ports: list[dict[str, Any]] = []
    if not c.state.running:
        return ports
    published = set()
    for port, pb in c.network_settings.ports.items():
        number, _, proto = port.partition("/")
        for b in pb.bindings:
            published.add(port)
            item: dict[str, Any] = {
                "IP": b.host_ip or "0.0.0.0",
                "PrivatePort": int(number),
                "Type": proto or "tcp",
            }
            if b.host_port:
                item["PublicPort"] = int(b.host_port)
            ports.append(item)
    for port in c.config.exposed_ports:
        if port not in published:
            number, _, proto = port.partition("/")
            ports.append({"PrivatePort": int(number), "Type": proto or "tcp"})
    return ports


def list_json(c: cpb.Container, now: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.config.image or c.image,
        "ImageID": c.image_id,
        "Command": _command(c),
        "Created": unix(c.created),
        "Ports": list_ports(c),
        "Labels": dict(c.config.labels),
        "State": c.state.status or "created",
        "Status": status_text(c.state, now),
        "HostConfig": {"NetworkMode": network_mode(c.host_config.network_mode)},
        "NetworkSettings": {
            "Networks": {
                name: endpoint_json(ep) for name, ep in c.network_settings.networks.items()
            }
        },
        "Mounts": mount_points(c),
    }
    if c.size_rw >= 0 and (c.size_rw or c.size_root_fs):
        out["SizeRw"] = c.size_rw
        out["SizeRootFs"] = c.size_root_fs
    return out
