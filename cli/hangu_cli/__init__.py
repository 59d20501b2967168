"""hangu's operator CLI: talks to the gateway's Docker Engine API."""

__version__ = "0.1.0"
