"""How the tests find the docker CLI, and how they ask for a newer one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import dockercli


def test_versions_of_both_kinds_of_build() -> None:
    assert dockercli.parse_version("Docker version 28.2.2, build e6534b4") == (28, 2, 2)
    assert dockercli.parse_version("Docker version 20.10.24+dfsg1, build 297e128") == (
        20,
        10,
        24,
    )
    assert dockercli.parse_version("23.0") == (23, 0)
    assert dockercli.parse_version("no version") is None
    assert (20, 10, 24) < (23, 0) <= (28, 2, 2)


def test_override_then_static_build_then_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HANGU_TEST_DOCKER", "/opt/docker-29")
    assert dockercli.find_docker() == "/opt/docker-29"
    monkeypatch.delenv("HANGU_TEST_DOCKER")
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Docker version 20.10.24+dfsg1, build x'\n")
    fake.chmod(0o755)
    monkeypatch.setattr(dockercli, "STATIC_BUILD", tmp_path / "absent")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    assert dockercli.find_docker() == str(fake)
    monkeypatch.setattr(dockercli, "STATIC_BUILD", fake)
    assert dockercli.find_docker() == str(fake)


def test_an_old_client_gives_the_reason(tmp_path: Path) -> None:
    old = tmp_path / "docker"
    old.write_text("#!/bin/sh\necho 'Docker version 20.10.24+dfsg1, build x'\n")
    old.chmod(0o755)
    reason = dockercli.missing_docker_cli("23.0", str(old))
    assert reason == f"needs docker CLI >= 23.0; {old} is 20.10.24"
    assert dockercli.missing_docker_cli("20.10", str(old)) is None
    gone = dockercli.missing_docker_cli("23.0", str(tmp_path / "none"))
    assert gone is not None and "none runs at" in gone
