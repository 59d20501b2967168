"""Attach and logs for the service: attach sessions tied to the lifecycle
(waiting for a start, or connected to a running container's conmon), and
logs read from conmon's k8s-file log, optionally followed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

from . import logs
from .lifecycle import Lifecycle
from .registry import Live
from .sessions import AttachSession


@dataclass(frozen=True)
class AttachOptions:
    stdin: bool = False
    stdout: bool = True
    stderr: bool = True
    stream: bool = True
    logs: bool = False


class Streams:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lc = lifecycle
        self.registry = lifecycle.registry
        self.rt = lifecycle.rt

    def attach(self, ref: str, opts: AttachOptions) -> AttachSession:
        """A session. Not running: it waits for the next start (as dockerd,
        so `docker start -a` can attach first). Running: connected now."""
        live = self.registry.lookup(ref)
        session = AttachSession(opts.stdin, opts.stdout, opts.stderr)
        if opts.logs:
            for entry in logs.select(self.rt.paths.log_path(live.id), logs.LogQuery()):
                session.put_log(entry.stream, entry.data)
        if not opts.stream:
            session.end()
            return session
        with live.lock:
            if live.removed:
                session.end()
            elif live.running:
                with self.registry.cond:
                    seen = live.exits
                session.connect(self.rt.paths.attach_socket(live.id),
                                lambda: self.lc.starter.exit_code_after(live, seen))
            else:
                live.waiting.append(session)
        return session

    def detach(self, ref_live: Live, session: AttachSession) -> None:
        with ref_live.lock:
            if session in ref_live.waiting:
                ref_live.waiting.remove(session)

    def logs(self, ref: str, query: logs.LogQuery, follow: bool,
             stop: threading.Event | None = None) -> Iterator[logs.LogEntry]:
        live = self.registry.lookup(ref)
        path = self.rt.paths.log_path(live.id)
        if not follow or not live.running:
            yield from logs.select(path, query)
            return
        yield from logs.follow(path, query, self.rt.paths.exit_file(live.id),
                               lambda: live.running and not live.removed, stop)
