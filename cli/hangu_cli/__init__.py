"""hangu's operator CLI: talks to the gateway's Docker Engine API."""

from hangu_runtime.version import SERVER_VERSION as __version__

__all__ = ["__version__"]
