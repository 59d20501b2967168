"""Merge an image's config into the container config, as dockerd's
`merge(userConf, imageConf)` does at create time, and derive the process
arguments (entrypoint + cmd)."""

from __future__ import annotations

import json
from typing import Any

from hangu.container.v1 import container_pb2 as pb
from hangu_runtime.errors import InvalidArgument


def image_runtime_config(config_json: bytes) -> dict[str, Any]:
    """The "config" object of an image config blob ({} when absent)."""
    if not config_json:
        return {}
    blob = json.loads(config_json)
    cfg = blob.get("config") or blob.get("Config") or {}
    return cfg if isinstance(cfg, dict) else {}


def _env_key(item: str) -> str:
    return item.split("=", 1)[0]


def merge_env(image_env: list[str], user_env: list[str]) -> list[str]:
    """Image env first; a user variable replaces the image's of the same name."""
    out = list(image_env)
    index = {_env_key(e): i for i, e in enumerate(out)}
    for item in user_env:
        key = _env_key(item)
        if key in index:
            out[index[key]] = item
        else:
            index[key] = len(out)
            out.append(item)
    return out


def merge(user: pb.ContainerConfig, image: dict[str, Any]) -> pb.ContainerConfig:
    """A new ContainerConfig with the image's defaults filled in."""
    merged = pb.ContainerConfig()
    merged.CopyFrom(user)
    if not merged.user and image.get("User"):
        merged.user = image["User"]
    if not merged.exposed_ports:
        merged.exposed_ports.extend(sorted((image.get("ExposedPorts") or {}).keys()))
    else:
        extra = [p for p in (image.get("ExposedPorts") or {}) if p not in merged.exposed_ports]
        merged.exposed_ports.extend(extra)
    merged.ClearField("env")
    merged.env.extend(merge_env(list(image.get("Env") or []), list(user.env)))
    for key, value in (image.get("Labels") or {}).items():
        if key not in merged.labels:
            merged.labels[key] = value
    # dockerd: with no user entrypoint, an absent cmd takes the image's, and
    # an absent entrypoint takes the image's. A user entrypoint drops the
    # image's cmd.
    if not user.entrypoint:
        if not user.cmd:
            merged.ClearField("cmd")
            merged.cmd.extend(list(image.get("Cmd") or []))
            merged.args_escaped = bool(image.get("ArgsEscaped"))
        if not user.entrypoint_set:
            merged.ClearField("entrypoint")
            merged.entrypoint.extend(list(image.get("Entrypoint") or []))
    if not merged.working_dir:
        merged.working_dir = image.get("WorkingDir") or ""
    vols = list(merged.volumes)
    for v in image.get("Volumes") or {}:
        if v not in vols:
            vols.append(v)
    merged.ClearField("volumes")
    merged.volumes.extend(vols)
    if not merged.stop_signal and image.get("StopSignal"):
        merged.stop_signal = image["StopSignal"]
    if not merged.HasField("healthcheck") and image.get("Healthcheck"):
        hc = image["Healthcheck"]
        merged.healthcheck.test.extend(hc.get("Test") or [])
        merged.healthcheck.interval_ns = int(hc.get("Interval") or 0)
        merged.healthcheck.timeout_ns = int(hc.get("Timeout") or 0)
        merged.healthcheck.start_period_ns = int(hc.get("StartPeriod") or 0)
        merged.healthcheck.retries = int(hc.get("Retries") or 0)
    if not merged.shell and image.get("Shell"):
        merged.shell.extend(image["Shell"])
    if not merged.on_build and image.get("OnBuild"):
        merged.on_build.extend(image["OnBuild"])
    return merged


def process_args(config: pb.ContainerConfig) -> list[str]:
    """entrypoint + cmd; dockerd refuses a container with neither."""
    args = list(config.entrypoint) + list(config.cmd)
    if config.entrypoint and len(config.entrypoint) == 1 and config.entrypoint[0] == "":
        args = list(config.cmd)
    if not args:
        raise InvalidArgument("no command specified")
    return args
