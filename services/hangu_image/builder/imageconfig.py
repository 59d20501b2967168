"""The image config a build step writes: the parent's, with the step's
container config ("config"), the config that identifies the step in the
cache ("container_config", as dockerd's classic builder keeps it), one more
history entry and, unless the step changed no file, one more layer."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from ..cachekey import normalized

DEFAULT_SHELL = ["/bin/sh", "-c"]
_PLATFORM_KEYS = ("architecture", "os", "variant", "os.version", "os.features")


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def shell_of(config: dict[str, Any]) -> list[str]:
    return list(config.get("Shell") or DEFAULT_SHELL)


def with_comment(config: dict[str, Any], comment: str, *, joined: bool = False) -> dict[str, Any]:
    """The cache identity of a step that runs nothing: the config with a
    `#(nop)` command, as dockerd writes it. Most instructions make it
    [shell..., "#(nop) ", comment] (two spaces once joined); WORKDIR, COPY
    and ADD make it one word, `joined`."""
    out = copy.deepcopy(config)
    tail = [f"#(nop) {comment}"] if joined else ["#(nop) ", comment]
    out["Cmd"] = shell_of(config) + tail
    return out


def created_by(container_config: dict[str, Any]) -> str:
    return " ".join(str(part) for part in container_config.get("Cmd") or [])


def child_config(
    parent_config: dict[str, Any],
    *,
    config: dict[str, Any],
    container_config: dict[str, Any],
    diff_ids: list[str] | None,
    parent_id: str,
    container_id: str = "",
    author: str = "",
    platform: dict[str, str] | None = None,
) -> bytes:
    """The new image's config blob. `diff_ids` None: the step added no
    layer (its history entry says empty_layer)."""
    now = now_rfc3339()
    history = list(parent_config.get("history") or [])
    entry: dict[str, Any] = {"created": now, "created_by": created_by(container_config)}
    if diff_ids is None:
        entry["empty_layer"] = True
        diff_ids = list((parent_config.get("rootfs") or {}).get("diff_ids") or [])
    history.append(entry)
    out: dict[str, Any] = {k: parent_config[k] for k in _PLATFORM_KEYS if k in parent_config}
    if platform:
        for key, value in platform.items():
            out.setdefault(key, value)
    out.update(
        {
            "config": normalized(config),
            "author": author,
            "container": container_id,
            "container_config": normalized(container_config),
            "created": now,
            "history": history,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
    )
    if parent_id:
        out["parent"] = parent_id
    return json.dumps({k: v for k, v in out.items() if v != ""}, separators=(",", ":")).encode()
