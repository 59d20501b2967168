"""hangu's versions, each defined once: the server's own release and the
range of Docker Engine API versions the gateway serves (and the CLI asks
for).

The release is the `hangu` distribution's version from pyproject.toml, read
from the installed package metadata (`make venv` installs the checkout
editable), so a release bump is one edit."""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "hangu"

# The Docker Engine API versions served: the newest is the default for a
# request without a /v{version} prefix; older ones are refused.
API_VERSION = "1.47"
MIN_API_VERSION = "1.24"


def _server_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        # A checkout used from PYTHONPATH alone, never installed: say so
        # rather than invent a release number.
        return "0+unknown"


SERVER_VERSION = _server_version()
