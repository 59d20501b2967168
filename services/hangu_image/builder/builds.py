"""What every build shares: the stores, the container service, the folder
builds work in; and, at start-up, the clean-up of what killed builds left."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from hangu_runtime.errors import HanguError, NotFound

from ..distribution import Distribution
from ..images import ImageStore
from ..peers import ContainerClient
from ..progress import ProgressEvent
from ..rootfs import RootfsStore
from . import journal
from .fsstep import PREFIX
from .options import BuildOptions
from .session import BuildSession
from .tools import Tools


class Builder:
    """Runs builds with the tools they share; cleans up after killed ones."""

    def __init__(
        self,
        images: ImageStore,
        rootfs: RootfsStore,
        distribution: Distribution,
        containers: ContainerClient,
        work_root: Path,
    ) -> None:
        self.tools = Tools(images, rootfs, distribution, containers, work_root)
        self.rootfs = rootfs
        self.containers = containers
        self.work_root = work_root
        work_root.mkdir(parents=True, exist_ok=True)

    def clean(self) -> None:
        """At start-up: what killed builds left (their contexts, their RUN
        containers, the root filesystems of their COPY steps and --from
        sources)."""
        doomed = journal.leftovers(self.work_root)
        for entry in self.work_root.iterdir():
            shutil.rmtree(entry, ignore_errors=True)
        if doomed:
            # The container service may be starting too: wait for it.
            threading.Thread(
                target=self._remove_leftovers, args=(doomed,), name="build-leftovers", daemon=True
            ).start()
        for record in self.rootfs.all():
            if record.container_id.startswith(PREFIX):
                self.rootfs.remove(record.container_id)

    def _remove_leftovers(self, doomed: list[str]) -> None:
        for cid in doomed:
            for _ in range(60):
                try:
                    self.containers.remove(cid)
                    break
                except NotFound:
                    break
                except HanguError:
                    time.sleep(1)

    def build(
        self,
        options: BuildOptions,
        context: Iterable[bytes],
        emit: Callable[[ProgressEvent], None],
        cancel: threading.Event,
    ) -> None:
        BuildSession(self.tools, options, emit, cancel).run(context)
