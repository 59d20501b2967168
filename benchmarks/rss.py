"""The peak resident memory of one process (a hangu service) while a
benchmark sample runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path


class RssSampler:
    """Peak RSS of one process while a sample runs: VmHWM after resetting it
    (clear_refs 5) and, as a cross-check, VmRSS sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_sampled = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _status(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        return 0

    def __enter__(self) -> RssSampler:
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_sampled = max(self.peak_sampled, self._status("VmRSS"))
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join()
        self.hwm = self._status("VmHWM")
