"""The bridge driver's options (`docker network create -o …`): checked as
dockerd parses them, with its wording, and read back off a network's row."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from hangu_runtime.errors import InvalidArgument
from hangu_runtime.filters import parse_go_bool

from .models import NetworkRow

BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
ICC_OPT = "com.docker.network.bridge.enable_icc"
MASQUERADE_OPT = "com.docker.network.bridge.enable_ip_masquerade"
HOST_BINDING_OPT = "com.docker.network.bridge.host_binding_ipv4"
MTU_OPT = "com.docker.network.driver.mtu"
MTU_MIN, MTU_MAX = 68, 65535  # what the kernel takes for a bridge (0: the default)


def default_bridge_options(bridge: str) -> dict[str, str]:
    """The default `bridge` network's options, as dockerd shows them."""
    return {
        "com.docker.network.bridge.default_bridge": "true",
        ICC_OPT: "true",
        MASQUERADE_OPT: "true",
        HOST_BINDING_OPT: "0.0.0.0",
        BRIDGE_NAME_OPT: bridge,
        MTU_OPT: "1500",
    }


def check_options(options: Mapping[str, str]) -> None:
    """The options dockerd parses, refused as it refuses them
    (strconv.Atoi, strconv.ParseBool, net.ParseIP and their wording)."""
    for key, value in options.items():
        if key == MTU_OPT:
            if _go_atoi(value) is None:
                raise _parse_error(key, value, f'strconv.Atoi: parsing "{value}": invalid syntax')
            if int(value) < 0 or int(value) > MTU_MAX or 0 < int(value) < MTU_MIN:
                # dockerd refuses a negative one; the kernel the others
                raise InvalidArgument(f"invalid MTU number: {int(value)}")
        elif key in (ICC_OPT, MASQUERADE_OPT):
            try:
                parse_go_bool(value)
            except ValueError as err:
                raise _parse_error(key, value, str(err)) from None
        elif key == HOST_BINDING_OPT:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise _parse_error(key, value, "nil ip") from None


def _parse_error(key: str, value: str, why: str) -> InvalidArgument:
    return InvalidArgument(f"failed to parse {key} value: {value} ({why})")


def _go_atoi(value: str) -> int | None:
    """Go's strconv.Atoi: optional sign and decimal digits, nothing else
    (Python's int() also takes spaces and underscores)."""
    return int(value) if re.fullmatch(r"[+-]?[0-9]+", value) else None


def flag(row: NetworkRow, key: str) -> bool:
    """A boolean option, true unless set false (as dockerd reads it; a
    value stored before options were checked counts as unset)."""
    try:
        return parse_go_bool(row.options.get(key, "true"))
    except ValueError:
        return True


def mtu(row: NetworkRow) -> int:
    """The bridge MTU: 0 or unset means the default, as in dockerd."""
    found = _go_atoi(row.options.get(MTU_OPT, ""))
    return found if found else 1500


def host_binding(row: NetworkRow) -> str:
    """Where a port published without an address binds ("": every address)."""
    binding = row.options.get(HOST_BINDING_OPT, "")
    return "" if binding == "0.0.0.0" else binding


def icc_enabled(row: NetworkRow) -> bool:
    """Containers of the network may talk to each other (Docker's default)."""
    return flag(row, ICC_OPT)
