"""One inotify instance and one thread for every `logs -f` of the service.

The kernel caps inotify instances per user (128 by default), so followers
cannot each have their own. Followers subscribe to their container's log
folder; the thread wakes every subscriber of a folder when conmon writes to
it. The lifecycle wakes them too when the container exits (conmon's exit
file lives elsewhere), and a subscriber can be woken to stop."""

from __future__ import annotations

import threading
from pathlib import Path

from hangu_runtime import logging as hlog

from .inotify import IN_CLOSE_WRITE, IN_MODIFY, IN_MOVED_TO, IN_Q_OVERFLOW, Inotify

log = hlog.get_logger("hangu.container.lognotify")


class Subscription:
    def __init__(self, notifier: LogNotifier, folder: str) -> None:
        self.notifier = notifier
        self.folder = folder
        self._event = threading.Event()

    def wait(self, timeout: float | None = None) -> None:
        """Until something changed since the last wait (or the timeout)."""
        self._event.wait(timeout)
        self._event.clear()

    def wake(self) -> None:
        self._event.set()

    def close(self) -> None:
        self.notifier._unsubscribe(self)


class LogNotifier:
    def __init__(self) -> None:
        self._ino = Inotify()
        self._lock = threading.Lock()
        self._wd_folder: dict[int, str] = {}
        self._folder_wd: dict[str, int] = {}
        self._subs: dict[str, set[Subscription]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="log-notify", daemon=True)
        self._thread.start()

    def subscribe(self, folder: Path) -> Subscription:
        key = str(folder)
        sub = Subscription(self, key)
        with self._lock:
            if key not in self._folder_wd:
                wd = self._ino.add_watch(key, IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE)
                self._folder_wd[key] = wd
                self._wd_folder[wd] = key
            self._subs.setdefault(key, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.folder)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.folder]
                    # The watch stays (cheap) until the folder is deleted,
                    # when the kernel drops it; a later subscribe re-adds it.
                    wd = self._folder_wd.pop(sub.folder, None)
                    if wd is not None:
                        self._wd_folder.pop(wd, None)

    def wake_folder(self, folder: Path) -> None:
        with self._lock:
            subs = list(self._subs.get(str(folder), ()))
        for sub in subs:
            sub.wake()

    def _run(self) -> None:
        while not self._stop.is_set():
            for wd, mask, _name in self._ino.read():
                with self._lock:
                    if mask & IN_Q_OVERFLOW:
                        subs = [s for group in self._subs.values() for s in group]
                    else:
                        folder = self._wd_folder.get(wd)
                        subs = list(self._subs.get(folder, ())) if folder else []
                for sub in subs:
                    sub.wake()

    def close(self) -> None:
        """Idempotent; the inotify fds are closed only once the thread is
        gone (see ExitWatcher.stop)."""
        self._stop.set()
        self._ino.wake()
        self._thread.join(timeout=5)
        with self._lock:
            subs = [s for group in self._subs.values() for s in group]
        for sub in subs:
            sub.wake()
        if self._thread.is_alive():
            log.warning("log_notifier_still_busy")
            return
        self._ino.close()
