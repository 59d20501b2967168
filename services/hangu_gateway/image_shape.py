"""Image messages shaped as Docker's JSON (list entries, inspect, history)."""

from __future__ import annotations

import json
from typing import Any

from hangu.image.v1 import image_pb2 as ipb
from hangu_runtime.times import is_zero, rfc3339, unix

from . import versions


def _blob(img: ipb.Image) -> dict[str, Any]:
    if not img.config_json:
        return {}
    try:
        data = json.loads(img.config_json)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def list_json(img: ipb.Image, api_version: str = versions.API_VERSION) -> dict[str, Any]:
    return list_many([img], api_version)[0]


def list_many(
    images: list[ipb.Image], api_version: str = versions.API_VERSION
) -> list[dict[str, Any]]:
    """GET /images/json entries. One pass with the version checks made once:
    `docker images` over hundreds of images is a budgeted path."""
    placeholders = versions.less_than(api_version, "1.43")
    virtual_size = versions.less_than(api_version, "1.44")
    out = []
    for img in images:
        tags = list(img.repo_tags)
        digests = list(img.repo_digests)
        shown_tags: list[str] | None = tags
        shown_digests: list[str] | None = digests
        if placeholders:
            # Before 1.43 dockerd named an image with neither by placeholders,
            # and left the empty one of the two null.
            if not tags and not digests:
                shown_tags, shown_digests = ["<none>:<none>"], ["<none>@<none>"]
            else:
                shown_tags, shown_digests = tags or None, digests or None
        entry: dict[str, Any] = {
            "Id": img.id,
            "ParentId": img.parent,
            "RepoTags": shown_tags,
            "RepoDigests": shown_digests,
            "Created": img.created.seconds,
            "Size": img.size,
            # -1 when not computed (the service sets it; 0 is a real figure).
            "SharedSize": img.shared_size,
            # The service fills `labels` from the config: no need to parse it here.
            "Labels": dict(img.labels) or None,
            "Containers": img.containers if img.containers else -1,
        }
        if virtual_size:
            entry["VirtualSize"] = img.size
        out.append(entry)
    return out


def _docker_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The image's config in the inspect shape (Docker's container.Config
    keys, nulls where dockerd writes null)."""
    keys = (
        "Hostname",
        "Domainname",
        "User",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "ExposedPorts",
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "Env",
        "Cmd",
        "Healthcheck",
        "ArgsEscaped",
        "Image",
        "Volumes",
        "WorkingDir",
        "Entrypoint",
        "OnBuild",
        "Labels",
        "StopSignal",
        "Shell",
    )
    defaults: dict[str, Any] = {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": None,
    }
    out = {k: cfg.get(k, defaults.get(k)) for k in keys if k in cfg or k in defaults}
    return out


def inspect_json(img: ipb.Image, api_version: str = versions.API_VERSION) -> dict[str, Any]:
    blob = _blob(img)
    cfg = blob.get("config") or {}
    out: dict[str, Any] = {
        "Id": img.id,
        "RepoTags": list(img.repo_tags),
        "RepoDigests": list(img.repo_digests),
        "Parent": img.parent,
        "Comment": img.comment or blob.get("comment", ""),
        "Created": rfc3339(img.created) if not is_zero(img.created) else blob.get("created", ""),
        "DockerVersion": img.docker_version or blob.get("docker_version", ""),
        "Author": img.author or blob.get("author", ""),
        "Config": _docker_config(cfg),
        "Architecture": img.architecture or blob.get("architecture", ""),
        "Os": img.os or blob.get("os", "linux"),
        "Size": img.size,
        "GraphDriver": {"Data": None, "Name": "overlay2"},
        "RootFS": {"Type": "layers", "Layers": list(img.layers)},
        "Metadata": {"LastTagTime": rfc3339(img.last_tag_time)},
    }
    if img.variant or blob.get("variant"):
        out["Variant"] = img.variant or blob.get("variant")
    if versions.less_than(api_version, "1.45"):
        out["Container"] = blob.get("container", "")
        out["ContainerConfig"] = _docker_config(blob.get("container_config") or {})
    if versions.less_than(api_version, "1.44"):
        out["VirtualSize"] = img.size
    return out


def history_json(entries: list[ipb.HistoryEntry]) -> list[dict[str, Any]]:
    return [
        {
            "Id": e.id or "<missing>",
            "Created": unix(e.created),
            "CreatedBy": e.created_by,
            "Tags": list(e.tags) or None,
            "Size": e.size,
            "Comment": e.comment,
        }
        for e in entries
    ]
