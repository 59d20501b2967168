"""Choosing a manifest from a manifest list / OCI index."""

from __future__ import annotations

import pytest

from hangu_image.platforms import Platform, host_platform, parse_platform, select_manifest
from hangu_runtime.errors import NotFound

INDEX = {
    "manifests": [
        {"digest": "arm6", "platform": {"os": "linux", "architecture": "arm", "variant": "v6"}},
        {"digest": "arm7", "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"digest": "amd64", "platform": {"os": "linux", "architecture": "amd64"}},
        {"digest": "arm64", "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        {"digest": "win", "platform": {"os": "windows", "architecture": "amd64"}},
        {"digest": "att", "platform": {"os": "unknown", "architecture": "unknown"}},
    ]
}


@pytest.mark.parametrize(
    "want,digest",
    [
        ("linux/amd64", "amd64"),
        ("linux/arm64", "arm64"),
        ("linux/arm64/v8", "arm64"),
        ("linux/arm/v7", "arm7"),
        ("linux/arm", "arm7"),
        ("linux/arm/v6", "arm6"),
        ("windows/amd64", "win"),
        ("arm64", "arm64"),
    ],
)
def test_select(want: str, digest: str) -> None:
    assert select_manifest(INDEX, parse_platform(want))["digest"] == digest


def test_host_platform_is_chosen_by_default() -> None:
    host = host_platform()
    assert host.os == "linux" and host.architecture in (
        "amd64",
        "arm64",
        "arm",
        "386",
        "ppc64le",
        "s390x",
        "riscv64",
    )
    if host.architecture in ("amd64", "arm64"):
        assert select_manifest(INDEX, parse_platform(""))["digest"] == host.architecture


def test_no_match() -> None:
    with pytest.raises(NotFound) as err:
        select_manifest(INDEX, Platform("linux", "s390x"))
    assert err.value.message == "no matching manifest for linux/s390x in the manifest list entries"


def test_x86_64_alias() -> None:
    assert parse_platform("linux/x86_64") == Platform("linux", "amd64")
