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
backend, as dockerd uses) is exec'd twice per change, one listing and one
iptables-restore: this happens per network, not per container."""

from __future__ import annotations

import fcntl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from hangu_runtime import logging as hlog

log = hlog.get_logger("hangu.network.dockeruser")

CHAIN = "DOCKER-USER"
# Several hangu instances (tests, a real install) may share one host.
_LOCK_PATH = "/run/hangu-docker-user.lock"
# Bounded waits (xtables lock, the lock above): a stuck peer must fail a
# network create or rm with an error, never hang it or a service's stop.
_EXEC_TIMEOUT = 30.0
_LOCK_TIMEOUT = 30.0


def _ipt(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["iptables", "-w", "5", "-t", "filter", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=_EXEC_TIMEOUT,
    )


def _listing() -> list[str] | None:
    """`iptables -S` of the filter table, or None when iptables cannot list it."""
    res = _ipt("-S")
    return res.stdout.splitlines() if res.returncode == 0 else None


def _restore(commands: list[str]) -> None:
    """Every command in one iptables-restore transaction (--noflush: nothing
    else in the table changes): one exec however many rules change."""
    if not commands:
        return
    script = "*filter\n" + "".join(f"{c}\n" for c in commands) + "COMMIT\n"
    res = subprocess.run(
        ["iptables-restore", "-w", "5", "--noflush"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
        timeout=_EXEC_TIMEOUT,
    )
    if res.returncode != 0:
        raise RuntimeError(f"iptables-restore {commands}: {res.stderr.strip()}")


@contextmanager
def _locked() -> Iterator[None]:
    with open(_LOCK_PATH, "a") as fh:
        deadline = time.monotonic() + _LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{_LOCK_PATH} held by another process") from None
                time.sleep(0.02)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _rules(bridge: str) -> list[str]:
    return [f"-i {bridge} -j ACCEPT", f"-o {bridge} -j ACCEPT"]


def add(bridge: str) -> None:
    with _locked():
        have = _listing()
        if have is None:
            raise RuntimeError("iptables -S failed: cannot add DOCKER-USER rules")
        commands = []
        # The chain and the FORWARD jump only when missing (dockerd's stay).
        if f"-N {CHAIN}" not in have:
            commands.append(f"-N {CHAIN}")
        if f"-A FORWARD -j {CHAIN}" not in have:
            commands.append(f"-I FORWARD -j {CHAIN}")
        # Inserted at the top: rules a user (or an old dockerd's trailing
        # RETURN) placed in the chain must not come first.
        commands += [f"-I {CHAIN} {r}" for r in _rules(bridge) if f"-A {CHAIN} {r}" not in have]
        _restore(commands)
    log.info("docker_user_rules_added", bridge=bridge)


def remove(bridge: str) -> None:
    with _locked():
        have = _listing()
        if have is None or f"-N {CHAIN}" not in have:
            return
        ours = {f"-A {CHAIN} {r}" for r in _rules(bridge)}
        commands = [f"-D {line[3:]}" for line in have if line in ours]
        left = [line for line in have if line not in ours]
        dropped = _unused_chain_commands(left)
        _restore(commands + dropped)
        if dropped:
            log.info("docker_user_chain_removed")
            _drop_empty_table(left)
    log.info("docker_user_rules_removed", bridge=bridge)


def present(bridge: str) -> bool:
    have = _listing() or []
    return all(f"-A {CHAIN} {r}" in have for r in _rules(bridge))


def _unused_chain_commands(left: list[str]) -> list[str]:
    """Removing the chain and its jump once they are empty and no dockerd has
    chains here (then hangu made them); dockerd's own chain is never removed."""
    if any(line.startswith(f"-A {CHAIN} ") for line in left):
        return []
    if any(line.startswith("-N DOCKER") and line != f"-N {CHAIN}" for line in left):
        return []
    jump = f"-A FORWARD -j {CHAIN}"
    return [f"-D {jump[3:]}"] * left.count(jump) + [f"-X {CHAIN}"]


def _drop_empty_table(left: list[str]) -> None:
    """iptables-nft made `table ip filter` for the chain; when nothing but
    accepting built-in chains is left, the table is as if it never was."""
    rest = [line for line in left if line not in (f"-N {CHAIN}", f"-A FORWARD -j {CHAIN}")]
    if sorted(rest) == ["-P FORWARD ACCEPT", "-P INPUT ACCEPT", "-P OUTPUT ACCEPT"]:
        subprocess.run(
            ["nft", "delete", "table", "ip", "filter"],
            capture_output=True,
            check=False,
            timeout=_EXEC_TIMEOUT,
        )
