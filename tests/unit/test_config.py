"""Settings: every knob is a field, read from HANGU_<FIELD> or the TOML file,
documented in the README; no other module reads the environment."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from hangu_runtime.config import Settings, env_var, load_settings

CHECKOUT = Path(__file__).resolve().parents[2]
HAND_WRITTEN = [
    *sorted((CHECKOUT / "services").glob("hangu_*")),
    CHECKOUT / "cli",
    CHECKOUT / "deploy",
    CHECKOUT / "benchmarks",
]
THE_READER = CHECKOUT / "services" / "hangu_runtime" / "config.py"


def test_knobs_of_every_kind() -> None:
    s = load_settings(
        {
            "HANGU_PURGE_ON_STOP": "1",
            "HANGU_CGROUP_PARENT": "/hg-x",
            "HANGU_SECCOMP_PROFILE": "/etc/p.json",
            "HANGU_START_TIMEOUT": "2.5",
            "HANGU_LOG_MAX_BYTES": "1024",
        }
    )
    assert s.purge_on_stop is True
    assert s.cgroup_parent == "/hg-x" and s.seccomp_profile == "/etc/p.json"
    assert s.start_timeout == 2.5 and s.stop_timeout == 30.0 and s.log_max_bytes == 1024
    assert load_settings({}).purge_on_stop is False
    assert load_settings({"HANGU_PURGE_ON_STOP": "0"}).purge_on_stop is False
    assert load_settings({"HANGU_PURGE_ON_STOP": "true"}).purge_on_stop is True
    with pytest.raises(ValueError, match="HANGU_PURGE_ON_STOP"):
        load_settings({"HANGU_PURGE_ON_STOP": "maybe"})


def test_toml_takes_every_field(tmp_path: Path) -> None:
    cfg = tmp_path / "hangu.toml"
    cfg.write_text('purge-on-stop = true\nstop_timeout = 5\ncgroup-parent = "/t"\n')
    s = load_settings({"HANGU_CONFIG": str(cfg)})
    assert (s.purge_on_stop, s.stop_timeout, s.cgroup_parent) == (True, 5.0, "/t")


def test_every_knob_is_in_the_readme_table() -> None:
    readme = (CHECKOUT / "README.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`")
        for line in readme.splitlines()
        if line.startswith("| `HANGU_")
    }
    missing = [env_var(f.name) for f in dataclasses.fields(Settings) if env_var(f.name) not in rows]
    assert not missing, f"not in the README's settings table: {missing}"


_READERS = ("environ", "getenv", "environb")


def _reads_environment(tree: ast.AST) -> list[int]:
    """Lines that touch os.environ/os.getenv (or import them from os)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in _READERS:
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            lines += [node.lineno for alias in node.names if alias.name in _READERS]
    return lines


def test_only_the_config_module_reads_the_environment() -> None:
    found = []
    for top in HAND_WRITTEN:
        for path in sorted(top.rglob("*.py")):
            if path == THE_READER:
                continue
            for line in _reads_environment(ast.parse(path.read_text(), str(path))):
                found.append(f"{path.relative_to(CHECKOUT)}:{line}")
    assert not found, f"read the environment outside hangu_runtime.config: {found}"
