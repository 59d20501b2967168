"""Attach and logs for the service: attach sessions tied to the lifecycle
(waiting for a start, or connected to a running container's conmon), and
logs read from conmon's k8s-file log, optionally followed."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from hangu_runtime.errors import InvalidArgument

from . import logs, stats
from .lifecycle import Lifecycle
from .lognotify import LogNotifier, Subscription
from .model import StatsSample
from .registry import Live
from .sessions import AttachSession, parse_detach_keys, pid_gone


@dataclass(frozen=True)
class AttachOptions:
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    stream: bool = True
    logs: bool = False
    detach_keys: str = ""


class Streams:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lc = lifecycle
        self.registry = lifecycle.registry
        self.rt = lifecycle.rt
        self.notifier = LogNotifier()
        # An exit ends every `logs -f` of the container.
        lifecycle.exit_hooks.append(
            lambda cid: self.notifier.wake_folder(self.rt.paths.log_path(cid).parent)
        )
        lifecycle.shutdown_hooks.append(self.close)

    def close(self) -> None:
        self.notifier.close()

    def attach(self, ref: str, opts: AttachOptions) -> tuple[Live, AttachSession]:
        """A session. Not running: it waits for the next start (as dockerd,
        so `docker start -a` can attach first). Running: connected now."""
        live = self.registry.lookup(ref)
        try:
            keys = parse_detach_keys(opts.detach_keys)
        except ValueError as err:
            raise InvalidArgument(str(err)) from None
        tty = live.ctr.config.tty
        session = AttachSession(opts.stdin, opts.stdout, opts.stderr, keys, tty=tty)
        if opts.logs:
            for entry in logs.select(self.rt.paths.log_path(live.id), logs.LogQuery()):
                session.put_log(entry.stream, entry.data)
        if not opts.stream:
            session.end()
            self.lc.emit("attach", live)
            return live, session
        with live.lock:
            if live.removed:
                session.end()
            elif live.running:
                with self.registry.cond:
                    seen = live.exits
                session.connect(
                    self.rt.paths.attach_socket(live.id),
                    functools.partial(self.lc.starter.exit_code_after, live, seen),
                    functools.partial(pid_gone, live.ctr.state.pid),
                )
            else:
                live.waiting.append(session)
        self.lc.emit("attach", live)
        return live, session

    def detach(self, ref_live: Live, session: AttachSession) -> None:
        """The client left (any thread)."""
        session.close()
        with ref_live.lock:
            if session in ref_live.waiting:
                ref_live.waiting.remove(session)

    def logs(
        self, ref: str, query: logs.LogQuery, follow: bool, stop: threading.Event | None = None
    ) -> Iterator[logs.LogEntry]:
        live = self.registry.lookup(ref)
        path = self.rt.paths.log_path(live.id)
        if not follow or not live.running:
            yield from logs.select(path, query)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        sub = self.notifier.subscribe(path.parent)
        waker = (
            threading.Thread(target=_wake_when, args=(stop, sub), daemon=True)
            if stop is not None
            else None
        )
        if waker is not None:
            waker.start()
        try:
            yield from logs.follow(
                path, query, lambda: live.running and not live.removed, sub, stop
            )
        finally:
            sub.close()
            if stop is not None and waker is not None:
                stop.set()
                waker.join()

    def stats(self, ref: str, stream: bool, stop: threading.Event) -> Iterator[StatsSample]:
        """One sample, or one a second until `stop` (as dockerd)."""
        live = self.registry.lookup(ref)
        while True:
            yield stats.sample(
                self.lc.cgroup_path(live),
                live.ctr.state.pid,
                live.ctr.state.status in ("running", "paused"),
            )
            if not stream or live.removed or stop.wait(1.0):
                return


def _wake_when(stop: threading.Event, sub: Subscription) -> None:
    stop.wait()
    sub.wake()
