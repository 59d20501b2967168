"""Docker API JSON (create bodies) into the container service's messages."""

from __future__ import annotations

from typing import Any

from hangu.container.v1 import container_pb2 as cpb
from hangu.types.v1 import types_pb2 as tpb

from .container_fields import CONFIG_PLAIN, HOST_PLAIN, HOST_UNSUPPORTED
from .errors import bad_request
from .versions import API_VERSION, less_than


def _strslice(value: Any) -> list[str]:
    """Docker's StrSlice: a string or a list of strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _copy_plain(body: dict[str, Any], msg: Any, table: tuple[tuple[str, str], ...]) -> None:
    for key, field in table:
        value = body.get(key)
        if value is None:
            continue
        target = getattr(msg, field)
        if isinstance(value, dict):
            target.update({str(k): str(v) for k, v in value.items()})
        elif isinstance(value, list):
            target.extend(value)
        else:
            try:
                setattr(msg, field, value)
            except (TypeError, ValueError) as err:
                raise bad_request(f"invalid value for {key}: {value!r}") from err


def container_config(body: dict[str, Any]) -> cpb.ContainerConfig:
    cfg = cpb.ContainerConfig()
    _copy_plain(body, cfg, CONFIG_PLAIN)
    # Set (even empty) only when given: "Cmd": [] is not an absent Cmd.
    if body.get("Cmd") is not None:
        cfg.cmd.CopyFrom(tpb.StringList(values=_strslice(body["Cmd"])))
    if body.get("Entrypoint") is not None:
        cfg.entrypoint.CopyFrom(tpb.StringList(values=_strslice(body["Entrypoint"])))
    cfg.exposed_ports.extend(sorted(body.get("ExposedPorts") or {}))
    cfg.volumes.extend(sorted(body.get("Volumes") or {}))
    if body.get("StopTimeout") is not None:
        cfg.stop_timeout = int(body["StopTimeout"])
    hc = body.get("Healthcheck")
    if hc:
        cfg.healthcheck.CopyFrom(
            cpb.Healthcheck(
                test=hc.get("Test") or [],
                interval_ns=hc.get("Interval") or 0,
                timeout_ns=hc.get("Timeout") or 0,
                start_period_ns=hc.get("StartPeriod") or 0,
                start_interval_ns=hc.get("StartInterval") or 0,
                retries=hc.get("Retries") or 0,
            )
        )
    return cfg


def _mount(m: dict[str, Any]) -> cpb.Mount:
    bind = m.get("BindOptions") or {}
    vol = m.get("VolumeOptions") or {}
    driver = vol.get("DriverConfig") or {}
    tmpfs = m.get("TmpfsOptions") or {}
    return cpb.Mount(
        type=m.get("Type") or "",
        source=m.get("Source") or "",
        target=m.get("Target") or "",
        read_only=bool(m.get("ReadOnly")),
        consistency=m.get("Consistency") or "",
        bind_propagation=bind.get("Propagation") or "",
        bind_create_mountpoint=bool(bind.get("CreateMountpoint")),
        volume_no_copy=bool(vol.get("NoCopy")),
        volume_labels=vol.get("Labels") or {},
        volume_driver=driver.get("Name") or "",
        volume_driver_options=driver.get("Options") or {},
        volume_subpath=vol.get("Subpath") or "",
        tmpfs_size_bytes=tmpfs.get("SizeBytes") or 0,
        tmpfs_mode=tmpfs.get("Mode") or 0,
    )


def host_config(body: dict[str, Any]) -> cpb.HostConfig:
    for key in HOST_UNSUPPORTED:
        if body.get(key):
            raise bad_request(f"HostConfig.{key} is not supported by hangu")
    hc = cpb.HostConfig()
    _copy_plain(body, hc, HOST_PLAIN)
    log = body.get("LogConfig") or {}
    if log:
        hc.log_config.CopyFrom(
            cpb.LogConfig(type=log.get("Type") or "", config=log.get("Config") or {})
        )
    for port, bindings in (body.get("PortBindings") or {}).items():
        entry = hc.port_bindings[port if "/" in port else port + "/tcp"]
        for b in bindings or []:
            entry.bindings.append(
                cpb.PortBinding(
                    host_ip=b.get("HostIp") or "", host_port=str(b.get("HostPort") or "")
                )
            )
    rp = body.get("RestartPolicy") or {}
    if rp:
        hc.restart_policy.CopyFrom(
            cpb.RestartPolicy(
                name=rp.get("Name") or "", maximum_retry_count=rp.get("MaximumRetryCount") or 0
            )
        )
    hc.mounts.extend(_mount(m) for m in body.get("Mounts") or [])
    for d in body.get("Devices") or []:
        hc.devices.append(
            cpb.DeviceMapping(
                path_on_host=d.get("PathOnHost") or "",
                path_in_container=d.get("PathInContainer") or "",
                cgroup_permissions=d.get("CgroupPermissions") or "",
            )
        )
    for u in body.get("Ulimits") or []:
        hc.ulimits.append(
            cpb.Ulimit(name=u.get("Name") or "", soft=u.get("Soft") or 0, hard=u.get("Hard") or 0)
        )
    if body.get("MemorySwappiness") is not None and body["MemorySwappiness"] >= 0:
        hc.memory_swappiness = int(body["MemorySwappiness"])
    return hc


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"invalid JSON: {what} must be an object")
    return value


def _strings(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_request(f"invalid JSON: {what} must be an array of strings")
    return value


def _int64(value: Any, what: str) -> int:
    """A JSON integer that fits Go's int64, as dockerd's decoder takes it."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise bad_request(f"invalid JSON: {what} must be a 64-bit integer")
    return value


def endpoint_config(ep: Any) -> cpb.EndpointConfig:
    """One EndpointSettings of a create or a connect, shape-checked."""
    ep = _object(ep, "EndpointSettings")
    ipam = _object(ep.get("IPAMConfig"), "IPAMConfig")
    opts = _object(ep.get("DriverOpts"), "DriverOpts")
    return cpb.EndpointConfig(
        aliases=_strings(ep.get("Aliases"), "Aliases"),
        ipv4_address=str(ipam.get("IPv4Address") or ""),
        ipv6_address=str(ipam.get("IPv6Address") or ""),
        link_local_ips=_strings(ipam.get("LinkLocalIPs"), "LinkLocalIPs"),
        links=_strings(ep.get("Links"), "Links"),
        mac_address=str(ep.get("MacAddress") or ""),
        driver_opts={str(k): str(v) for k, v in opts.items()},
        gw_priority=_int64(ep.get("GwPriority"), "GwPriority"),
    )


def networking_config(body: Any) -> cpb.NetworkingConfig:
    nc = cpb.NetworkingConfig()
    configs = _object(_object(body, "NetworkingConfig").get("EndpointsConfig"), "EndpointsConfig")
    for name, ep in configs.items():
        nc.endpoints_config[name].CopyFrom(endpoint_config(ep))
    return nc


def create_request(
    name: str, body: dict[str, Any], platform: str = "", api_version: str = API_VERSION
) -> cpb.CreateContainerRequest:
    if not isinstance(body, dict):
        raise bad_request("invalid JSON body: expected an object")
    if not body.get("Image"):
        raise bad_request("Config cannot be empty in order to create a container")
    host = body.get("HostConfig") or {}
    config = container_config(body)
    if config.HasField("healthcheck") and less_than(api_version, "1.44"):
        config.healthcheck.start_interval_ns = 0  # StartInterval came with API 1.44
    return cpb.CreateContainerRequest(
        name=name,
        config=config,
        host_config=host_config(host),
        networking_config=networking_config(body.get("NetworkingConfig")),
        platform=platform,
    )
