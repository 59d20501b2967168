"""Watch conmon's exit dir with inotify: one thread, no polling. conmon
writes `<exit dir>/<container id>` (atomically, via rename) with the exit
code once the container has exited and its output has been drained."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from hangu_runtime import logging as hlog

from .inotify import IN_CLOSE_WRITE, IN_MOVED_TO, IN_Q_OVERFLOW, Inotify

log = hlog.get_logger("hangu.container.exits")

ExitHandler = Callable[[str, int], None]


def _read_code(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    try:
        return int(text)
    except ValueError:
        return None


class ExitWatcher:
    def __init__(self, exit_dir: Path, on_exit: ExitHandler) -> None:
        self.exit_dir = exit_dir
        self.on_exit = on_exit
        self._ino = Inotify()
        self._ino.add_watch(str(exit_dir), IN_CLOSE_WRITE | IN_MOVED_TO)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="exit-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def pending(self) -> dict[str, int]:
        """Exit files already present (exits that happened while the
        service was down)."""
        out = {}
        for path in self.exit_dir.iterdir():
            if len(path.name) == 64:
                code = _read_code(path)
                if code is not None:
                    out[path.name] = code
        return out

    def _run(self) -> None:
        while not self._stop.is_set():
            for _wd, mask, name in self._ino.read():
                if mask & IN_Q_OVERFLOW:
                    # Events were dropped: whatever exit files exist now
                    # are handled (handlers ignore exits already seen).
                    for cid, code in self.pending().items():
                        self._handle(cid, code)
                    continue
                if len(name) != 64 or "." in name:
                    continue  # conmon's temporary file before the rename
                exit_code = _read_code(self.exit_dir / name)
                if exit_code is not None:
                    self._handle(name, exit_code)

    def _handle(self, cid: str, code: int) -> None:
        try:
            self.on_exit(cid, code)
        except Exception:
            log.exception("exit_handler_failed", id=cid)

    def stop(self) -> None:
        """Idempotent. The inotify fds are closed only once the thread is
        gone: closing them under it would let it select() on recycled
        numbers (a handler still running after the timeout keeps them)."""
        self._stop.set()
        self._ino.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        if self._thread.is_alive():
            log.warning("exit_watcher_still_busy")
            return
        self._ino.close()
