"""API version negotiation, as dockerd's version middleware does it.

Every route is registered with and without a `/v{version}` prefix; a
request without one gets the default (newest) version. Versions outside
[MIN_API_VERSION, API_VERSION] are refused with dockerd's own messages."""

from __future__ import annotations

import re

from hangu_runtime.version import API_VERSION, MIN_API_VERSION

# The range is hangu's (hangu_runtime.version); negotiation is the gateway's.
__all__ = [
    "API_VERSION",
    "MIN_API_VERSION",
    "PREFIX_PATTERN",
    "VersionError",
    "at_least",
    "less_than",
    "negotiate",
    "parse",
]

# The route prefix; any dotted number, so that out-of-range versions reach
# the check (and get dockerd's message) instead of a bare 404.
PREFIX_PATTERN = r"{api_version:v[0-9]+(?:\.[0-9]+)?}"

_VERSION_RE = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


class VersionError(ValueError):
    """A requested API version this server does not speak."""


def parse(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def less_than(a: str, b: str) -> bool:
    return parse(a) < parse(b)


def at_least(a: str, b: str) -> bool:
    return parse(a) >= parse(b)


def negotiate(requested: str | None) -> str:
    """The version a request is served at; raises VersionError if refused."""
    if not requested:
        return API_VERSION
    requested = requested.removeprefix("v")
    if not _VERSION_RE.match(requested):
        raise VersionError(f"invalid API version: {requested}")
    if less_than(requested, MIN_API_VERSION):
        raise VersionError(
            f"client version {requested} is too old. Minimum supported API version is "
            f"{MIN_API_VERSION}, please upgrade your client to a newer version"
        )
    if less_than(API_VERSION, requested):
        raise VersionError(
            f"client version {requested} is too new. Maximum supported API version is {API_VERSION}"
        )
    return requested
