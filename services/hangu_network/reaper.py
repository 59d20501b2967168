"""The veths of endpoints that went (a disconnect, a container's removal),
deleted off the request path and in batches.

Deleting a link holds the kernel's rtnl lock for about two RCU grace
periods (~16 ms for one veth here), and every netlink request of the next
connect or start waits behind it. So a retired veth is only marked, with
this hangu's link group (one cheap request on the request path); a worker
then deletes the whole group in one request, whose cost hardly grows with
its size (8 veths: ~15 ms), and frees the endpoints' addresses after it.
Until then an address stays allocated; a crash in between is repaired at
start-up (Sandboxes.reap_orphans)."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from hangu_runtime import logging as hlog

from .links import HostLinks
from .models import EndpointRow

log = hlog.get_logger("hangu.network.reaper")

# "hg" in the top half; the bottom half from the bridge name, so that stacks
# side by side on one host (each with its own default bridge) never delete
# each other's veths.
_GROUP_BASE = 0x68670000


def retired_group(bridge: str) -> int:
    return _GROUP_BASE | (zlib.crc32(bridge.encode()) & 0xFFFF)


class VethReaper:
    def __init__(self, links: HostLinks, release: Callable[[EndpointRow], None]) -> None:
        self.links = links
        self._release = release
        self._pending: list[EndpointRow] = []
        self._lock = threading.Lock()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="veth-reaper")

    def retire(self, endpoints: list[EndpointRow]) -> None:
        """Mark the endpoints' veths and queue them for the next batch."""
        if not endpoints:
            return
        for ep in endpoints:
            self.links.retire(ep.veth)
        with self._lock:
            self._pending += endpoints
        self._worker.submit(self._flush)

    def _flush(self) -> None:
        # What was queued while the previous batch was being deleted goes
        # in this one; the flushes queued meanwhile find nothing left.
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self.links.delete_retired()
        except Exception:
            log.exception("retired_veths_delete_failed", count=len(batch))
            for ep in batch:
                self.links.delete(ep.veth)
        for ep in batch:
            self._release(ep)
        log.debug("retired_veths_deleted", count=len(batch))

    def drain(self) -> None:
        """Wait until everything retired so far is deleted."""
        self._worker.submit(self._flush).result()

    def close(self) -> None:
        self._worker.shutdown(wait=True)
