"""Taking a removed network's bridge down off the request path.

Deleting a bridge waits for the kernel's RCU grace periods (~40 ms) and
dropping its DOCKER-USER rules costs an iptables commit (~25 ms). Neither
changes what a client can see once the network's row is gone (no endpoint
can join it, its nftables elements and resolver are already gone), so
`network rm` records the bridge here in the transaction that deletes the
network, and a worker thread takes it down. Recorded bridges are taken down
at start-up (a crash in between leaves nothing behind), before a bridge name
or an overlapping subnet is used again, and before a purge."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from ipaddress import ip_network

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, delete, select

from hangu_runtime import logging as hlog

from . import dockeruser
from .links import HostLinks
from .models import TeardownRow

log = hlog.get_logger("hangu.network.teardown")


class BridgeTeardown:
    def __init__(self, engine: Engine, links: HostLinks) -> None:
        self.engine = engine
        self.links = links
        # One bridge at a time, by the worker or by finish().
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="bridge-teardown", daemon=True)
        self._thread.start()

    def record(self, s: Session, bridge: str, subnets: Sequence[str]) -> None:
        """Part of the caller's transaction; `wake()` once it committed."""
        s.merge(TeardownRow(bridge=bridge, subnet=",".join(subnets)))

    def wake(self) -> None:
        self._wake.set()

    def finish(self, bridge: str = "", subnets: Sequence[str] = ()) -> None:
        """Take down now every recorded bridge of that name or whose subnets
        overlap one of those; with neither, all of them."""
        asked = [ip_network(n, strict=False) for n in subnets]

        def wanted(row: TeardownRow) -> bool:
            if not bridge and not asked:
                return True
            if bridge and row.bridge == bridge:
                return True
            return any(
                x.version == y.version and x.overlaps(y) for x in row.networks for y in asked
            )

        self._take_down(wanted)

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop:
            self._wake.wait()
            self._wake.clear()
            if not self._stop:
                try:
                    self._take_down(lambda _: True)
                except Exception:
                    log.exception("bridge_teardown_failed")

    def _take_down(self, wanted: Callable[[TeardownRow], bool]) -> None:
        with Session(self.engine) as s:
            rows = [r for r in s.exec(select(TeardownRow)) if wanted(r)]
        for row in rows:
            with self._lock, Session(self.engine) as s:
                if s.get(TeardownRow, row.bridge) is None:
                    continue  # the other path took it down meanwhile
                dockeruser.remove(row.bridge)
                self.links.delete(row.bridge)
                # A statement, not the object: another service on the same
                # database (tests) may have deleted the row meanwhile.
                s.exec(delete(TeardownRow).where(col(TeardownRow.bridge) == row.bridge))
                s.commit()
            log.info("bridge_removed", bridge=row.bridge)
