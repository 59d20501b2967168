"""Volume names and driver options, checked as dockerd's local driver does."""

from __future__ import annotations

import json
import re

from hangu_runtime.errors import InvalidArgument

RESTRICTED_NAME_CHARS = "[a-zA-Z0-9][a-zA-Z0-9_.-]"
_NAME = re.compile(f"^{RESTRICTED_NAME_CHARS}+$")
# The only options of the local driver (`mount -t TYPE -o O DEVICE`).
LOCAL_OPTIONS = ("type", "device", "o", "size")


def validate_name(name: str) -> None:
    if not _NAME.match(name):
        raise InvalidArgument(
            f"{json.dumps(name)} includes invalid characters for a local volume name, only "
            f"{json.dumps(RESTRICTED_NAME_CHARS)} are allowed. If you intended to pass a host "
            f"directory, use absolute path"
        )


def validate_options(opts: dict[str, str]) -> None:
    for key in opts:
        if key not in LOCAL_OPTIONS:
            raise InvalidArgument(f"invalid option: {json.dumps(key)}")
    if "size" in opts:
        raise InvalidArgument("quota size requested but no quota support")
    for required in ("type", "device"):
        if opts and required not in opts:
            raise InvalidArgument(f"missing required option: {json.dumps(required)}")
