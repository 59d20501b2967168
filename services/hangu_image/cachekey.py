"""The identity of a build step in the classic builder's cache: its
container_config (the command or `#(nop)` comment, the build args, the
sources' checksum) in one canonical form, and the key images are indexed by
(ImageRecord.cache_key), so a cache probe is one query."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def normalized(config: dict[str, Any]) -> dict[str, Any]:
    """A config without its unset fields, so configs that mean the same
    compare (and serialize) the same."""
    return {k: v for k, v in config.items() if v is not None and v != "" and v is not False}


def cache_identity(config: dict[str, Any]) -> str:
    return json.dumps(normalized(config), sort_keys=True, separators=(",", ":"))


def cache_key(config: dict[str, Any]) -> str:
    return hashlib.sha256(cache_identity(config).encode()).hexdigest()


def cache_key_of(image_config: dict[str, Any]) -> str:
    """The key of an image a build step made; "" for any other image."""
    built = image_config.get("container_config")
    return cache_key(built) if isinstance(built, dict) else ""
