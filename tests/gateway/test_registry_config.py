"""`docker info`'s registry section from the daemon settings, as dockerd fills it."""

from __future__ import annotations

import json
import subprocess

import pytest

from hangu_gateway.routers.system import _registry_config
from hangu_runtime.config import load_settings
from tests.support.stack import DOCKER, running_stack, stack_available


def test_insecure_hosts_and_cidrs() -> None:
    settings = load_settings(
        {
            "HANGU_INSECURE_REGISTRIES": "reg.test:5000,10.1.0.0/16,bad/x",
            "HANGU_REGISTRY_MIRRORS": "http://127.0.0.1:5999",
        }
    )
    config = _registry_config(settings)
    assert config["InsecureRegistryCIDRs"] == ["127.0.0.0/8", "::1/128", "10.1.0.0/16"]
    assert config["IndexConfigs"]["reg.test:5000"] == {
        "Name": "reg.test:5000",
        "Mirrors": [],
        "Secure": False,
        "Official": False,
    }
    assert config["IndexConfigs"]["docker.io"]["Mirrors"] == ["http://127.0.0.1:5999"]
    assert config["Mirrors"] == ["http://127.0.0.1:5999"]


@pytest.mark.root
@pytest.mark.e2e
def test_docker_info_lists_them() -> None:
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    env = {
        "HANGU_INSECURE_REGISTRIES": "reg.test:5000,10.1.0.0/16",
        "HANGU_REGISTRY_MIRRORS": "http://127.0.0.1:5999",
    }
    with running_stack(
        "reg", bridge_prefix="hgr", subnet_pool="10.210.0.0/16:24", env=env
    ) as stack:
        out = subprocess.run(
            [DOCKER, "info"], env=stack.env, capture_output=True, text=True, timeout=30
        )
        assert out.returncode == 0 and out.stderr == "", out.stderr
        insecure = out.stdout.split("Insecure Registries:")[1].split("Registry Mirrors:")[0]
        assert "reg.test:5000" in insecure and "10.1.0.0/16" in insecure
        assert "127.0.0.0/8" in insecure
        assert "http://127.0.0.1:5999" in out.stdout.split("Registry Mirrors:")[1]
        raw = subprocess.run(
            [DOCKER, "info", "--format", "{{json .RegistryConfig}}"],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert json.loads(raw.stdout)["IndexConfigs"]["reg.test:5000"]["Secure"] is False
