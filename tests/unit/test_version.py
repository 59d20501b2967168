"""Each version is defined once: the release in pyproject.toml (read back
from the installed metadata), the API range in hangu_runtime.version; the
gateway and the CLI both use those."""

from __future__ import annotations

import tomllib
from pathlib import Path

from hangu_cli import __version__ as cli_version
from hangu_cli import client
from hangu_gateway import versions
from hangu_runtime import version

ROOT = Path(__file__).resolve().parents[2]


def test_release_comes_from_the_package_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == version.SERVER_VERSION
    assert cli_version == version.SERVER_VERSION


def test_api_range_is_shared() -> None:
    assert (version.MIN_API_VERSION, version.API_VERSION) == ("1.24", "1.47")
    assert versions.API_VERSION == client.API_VERSION == version.API_VERSION
    assert versions.negotiate(None) == version.API_VERSION
