"""The endpoint sysctls driver option, parsed and mapped to /proc/sys."""

from __future__ import annotations

import pytest

from hangu_network import sysctls
from hangu_runtime.errors import InvalidArgument

OPT = sysctls.SYSCTLS_OPT


def test_assignments_for_an_interface() -> None:
    opts = {OPT: "net.ipv4.conf.IFNAME.log_martians=1, net.ipv6.conf.ifname.accept_ra=2"}
    assert sysctls.paths(opts, "eth1") == [
        ("/proc/sys/net/ipv4/conf/eth1/log_martians", "1"),
        ("/proc/sys/net/ipv6/conf/eth1/accept_ra", "2"),
    ]
    assert sysctls.paths({}, "eth0") == [] and sysctls.paths({OPT: ""}, "eth0") == []


@pytest.mark.parametrize(
    "item",
    [
        "net.ipv4.ip_forward=1",  # not per interface
        "kernel.conf.IFNAME.x=1",  # not a network sysctl
        "net.ipv4.conf.IFNAME.log_martians",  # no value
        "net.ipv4.conf.IFNAME.IFNAME=1",
        "net.ipv4.conf.IFNAME../../x=1",
    ],
)
def test_refused(item: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid sysctl"):
        sysctls.parse({OPT: item})
