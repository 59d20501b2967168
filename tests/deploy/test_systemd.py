"""The systemd units in deploy/systemd: the keys hangu relies on (ordering,
restart policy, host mounts, KillMode of the container service), and
`systemd-analyze verify` where it exists."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hangu_supervisor.services import NAMES

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SANDBOXING = {
    "PrivateTmp",
    "PrivateMounts",
    "ProtectSystem",
    "ProtectHome",
    "PrivateNetwork",
    "MountFlags",
    "ReadOnlyPaths",
    "InaccessiblePaths",
    "TemporaryFileSystem",
    "PrivateDevices",
    "ProtectKernelModules",
    "NetworkNamespacePath",
}


def parse(path: Path) -> dict[str, dict[str, list[str]]]:
    """Unit file → {section: {key: [values, in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def words(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> set[str]:
    return {w for value in unit.get(section, {}).get(key, []) for w in value.split()}


@pytest.mark.parametrize("name", NAMES)
def test_service_unit(name: str) -> None:
    unit = parse(UNITS / f"hangu-{name}.service")
    service = unit["Service"]
    assert service["ExecStart"][0].endswith(f"-m hangu_{name}.main")
    assert service["Restart"] == ["on-failure"]
    # Started means answering, so After= orders by readiness.
    assert service["ExecStartPost"][0].endswith(f"-m hangu_supervisor.probe {name}")
    env = words(unit, "Service", "Environment")
    assert "HANGU_ROOT=/var/lib/hangu" in env and "HANGU_RUN=/run/hangu" in env
    assert not SANDBOXING & set(service), "services must see the host's mounts"
    assert words(unit, "Install", "WantedBy") == {"hangu.target"}
    assert words(unit, "Unit", "PartOf") == {"hangu.target"}


def test_ordering_matches_the_supervisor() -> None:
    """Each service starts after the ones the supervisor starts before it
    and depends on (the container service on the other three, the gateway
    on all four)."""
    container = parse(UNITS / "hangu-container.service")
    peers = {"hangu-image.service", "hangu-network.service", "hangu-volume.service"}
    assert peers <= words(container, "Unit", "After")
    assert peers <= words(container, "Unit", "Wants")
    gateway = parse(UNITS / "hangu-gateway.service")
    everything = peers | {"hangu-container.service"}
    assert everything <= words(gateway, "Unit", "After")
    assert everything <= words(gateway, "Unit", "Wants")
    assert list(NAMES)[-1] == "gateway" and list(NAMES)[-2] == "container"


def test_containers_survive_a_container_service_restart() -> None:
    unit = parse(UNITS / "hangu-container.service")
    assert unit["Service"]["KillMode"] == ["process"]


def test_target_wants_all_five() -> None:
    target = parse(UNITS / "hangu.target")
    assert words(target, "Unit", "Wants") == {f"hangu-{n}.service" for n in NAMES}
    assert words(target, "Install", "WantedBy") == {"multi-user.target"}


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify(tmp_path: Path) -> None:
    # The units point at /opt/hangu/.venv; verify checks that ExecStart is
    # executable, so point them at this interpreter.
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("/opt/hangu/.venv/bin/python", sys.executable)
        (tmp_path / unit.name).write_text(text)
    files = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *files],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Unknown keys and sections are only warnings to systemd: fail on them.
    problems = [
        line
        for line in output.splitlines()
        if "Unknown" in line or "ignoring" in line or "Failed" in line
    ]
    assert not problems, output
