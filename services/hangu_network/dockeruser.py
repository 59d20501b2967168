"""Accept rules for hangu's bridges in Docker's documented DOCKER-USER chain.

A dockerd that runs or has run on the host loads br_netfilter and sets the
iptables FORWARD policy to DROP; both outlive it. Bridged traffic then
traverses `ip filter FORWARD` and is dropped, even between two containers on
one hangu bridge, and an accept in hangu's own nftables table cannot
override a drop in another base chain. DOCKER-USER is the chain dockerd
reserves for the user and jumps to first, so hangu adds exactly
`-i <bridge> -j ACCEPT` and `-o <bridge> -j ACCEPT` there, once per network,
and deletes exactly those. The chain and the FORWARD jump are created only
when missing; no other rule of dockerd's is touched. iptables (the nft
backend, as dockerd uses) is exec'd: this happens per network, not per
container."""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from hangu_runtime import logging as hlog

log = hlog.get_logger("hangu.network.dockeruser")

CHAIN = "DOCKER-USER"
# Several hangu instances (tests, a real install) may share one host.
_LOCK_PATH = "/run/hangu-docker-user.lock"


def _ipt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", "5", "-t", "filter", *args], capture_output=True, text=True, check=False
    )


@contextmanager
def _locked() -> Iterator[None]:
    with open(_LOCK_PATH, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _rules(bridge: str) -> list[list[str]]:
    return [["-i", bridge, "-j", "ACCEPT"], ["-o", bridge, "-j", "ACCEPT"]]


def _ensure_chain() -> None:
    if _ipt("-S", CHAIN).returncode != 0:
        res = _ipt("-N", CHAIN)
        if res.returncode != 0 and "exists" not in res.stderr:
            raise RuntimeError(f"iptables -N {CHAIN}: {res.stderr.strip()}")
        log.info("docker_user_chain_created")
    if _ipt("-C", "FORWARD", "-j", CHAIN).returncode != 0:
        res = _ipt("-I", "FORWARD", "-j", CHAIN)
        if res.returncode != 0:
            raise RuntimeError(f"iptables -I FORWARD -j {CHAIN}: {res.stderr.strip()}")
        log.info("docker_user_jump_created")


def add(bridge: str) -> None:
    with _locked():
        _ensure_chain()
        # Inserted at the top: rules a user (or an old dockerd's trailing
        # RETURN) placed in the chain must not come first.
        for rule in _rules(bridge):
            if _ipt("-C", CHAIN, *rule).returncode != 0:
                res = _ipt("-I", CHAIN, *rule)
                if res.returncode != 0:
                    raise RuntimeError(f"iptables -I {CHAIN}: {res.stderr.strip()}")
    log.info("docker_user_rules_added", bridge=bridge)


def remove(bridge: str) -> None:
    with _locked():
        if _ipt("-S", CHAIN).returncode != 0:
            return
        for rule in _rules(bridge):
            while _ipt("-C", CHAIN, *rule).returncode == 0:
                if _ipt("-D", CHAIN, *rule).returncode != 0:
                    break
        _drop_chain_if_unused()
    log.info("docker_user_rules_removed", bridge=bridge)


def present(bridge: str) -> bool:
    return all(_ipt("-C", CHAIN, *r).returncode == 0 for r in _rules(bridge))


def _drop_chain_if_unused() -> None:
    """Remove the chain and its jump when they are empty and no dockerd has
    chains here (then hangu made them); dockerd's own chain is never removed."""
    listing = _ipt("-S")
    if listing.returncode != 0:
        return
    lines = listing.stdout.splitlines()
    if any(line.startswith(f"-A {CHAIN} ") for line in lines):
        return
    if any(line.startswith("-N DOCKER") and line != f"-N {CHAIN}" for line in lines):
        return
    _ipt("-D", "FORWARD", "-j", CHAIN)
    _ipt("-X", CHAIN)
    log.info("docker_user_chain_removed")
    # iptables-nft made `table ip filter` for the chain; when nothing but
    # accepting built-in chains is left, the table is as if it never was.
    rest = _ipt("-S")
    if rest.returncode == 0 and sorted(rest.stdout.split("\n")) == sorted(
        ["-P INPUT ACCEPT", "-P FORWARD ACCEPT", "-P OUTPUT ACCEPT", ""]
    ):
        subprocess.run(["nft", "delete", "table", "ip", "filter"], capture_output=True, check=False)
