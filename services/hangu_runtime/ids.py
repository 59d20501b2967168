"""Docker-style identifiers and names."""

from __future__ import annotations

import secrets


def new_id() -> str:
    """64 hex digits, as Docker's container, network and exec ids."""
    return secrets.token_hex(32)


def short_id(full: str) -> str:
    full = full.removeprefix("sha256:")
    return full[:12]
