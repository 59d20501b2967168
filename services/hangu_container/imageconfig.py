"""Merge an image's config into the container config, as dockerd's
`merge(userConf, imageConf)` does at create time, and derive the process
arguments (entrypoint + cmd)."""

from __future__ import annotations

import copy
import json
from typing import Any

from hangu_runtime.errors import InvalidArgument

from . import healthcheck
from .model import ContainerConfig


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


def merge(user: ContainerConfig, image: dict[str, Any]) -> ContainerConfig:
    """A new ContainerConfig with the image's defaults filled in."""
    merged = copy.deepcopy(user)
    if not merged.user and image.get("User"):
        merged.user = image["User"]
    if not merged.exposed_ports:
        merged.exposed_ports = sorted((image.get("ExposedPorts") or {}).keys())
    else:
        extra = [p for p in (image.get("ExposedPorts") or {}) if p not in merged.exposed_ports]
        merged.exposed_ports.extend(extra)
    merged.env = merge_env(list(image.get("Env") or []), list(user.env))
    for key, value in (image.get("Labels") or {}).items():
        if key not in merged.labels:
            merged.labels[key] = value
    # dockerd: with no user entrypoint, an absent cmd takes the image's, and
    # an absent entrypoint takes the image's. A user entrypoint drops the
    # image's cmd. (An empty image value leaves the user's: [] or absent.)
    if not user.entrypoint:
        if not user.cmd:
            merged.cmd = list(image.get("Cmd") or []) or user.cmd
            merged.args_escaped = bool(image.get("ArgsEscaped"))
        if user.entrypoint is None:
            merged.entrypoint = list(image.get("Entrypoint") or []) or None
    if not merged.working_dir:
        merged.working_dir = image.get("WorkingDir") or ""
    for v in image.get("Volumes") or {}:
        if v not in merged.volumes:
            merged.volumes.append(v)
    if not merged.stop_signal and image.get("StopSignal"):
        merged.stop_signal = image["StopSignal"]
    merged.healthcheck = healthcheck.merge(merged.healthcheck, image.get("Healthcheck"))
    if not merged.shell and image.get("Shell"):
        merged.shell = list(image["Shell"])
    if not merged.on_build and image.get("OnBuild"):
        merged.on_build = list(image["OnBuild"])
    return merged


def process_args(config: ContainerConfig) -> list[str]:
    """entrypoint + cmd; dockerd refuses a container with neither."""
    entrypoint, cmd = config.entrypoint or [], config.cmd or []
    args = entrypoint + cmd
    if len(entrypoint) == 1 and entrypoint[0] == "":
        args = list(cmd)
    if not args:
        raise InvalidArgument("no command specified")
    return args
