"""Steps that write files without running anything (COPY, ADD, WORKDIR):
a transient root filesystem of the image service's own on the stage's
image, mounted, written, committed as a layer and removed. Also the
mounted root filesystems COPY --from reads, kept until the build ends."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from hangu_runtime.errors import NotFound

from ..commit import commit_upper
from ..images import ImageStore
from ..rootfs import RootfsStore
from .state import StageState

PREFIX = "build-"


class FsStep:
    def __init__(self, images: ImageStore, rootfs: RootfsStore, session: str) -> None:
        self.images = images
        self.rootfs = rootfs
        self.session = session
        self._count = 0
        self._sources: dict[str, Path] = {}
        self._made: list[str] = []  # root filesystems not removed yet

    def _id(self, kind: str) -> str:
        self._count += 1
        cid = f"{PREFIX}{self.session}-{kind}{self._count}"
        self._made.append(cid)
        return cid

    def run(
        self, state: StageState, write: Callable[[Path], None]
    ) -> tuple[list[str], list[str]] | None:
        """Apply `write(root)` on the stage's image; the layer it made, or
        None when it changed nothing."""
        cid = self._id("w")
        self.rootfs.prepare(cid, state.image_id)
        try:
            info = self.rootfs.mount(cid)
            try:
                write(Path(info.path))
            finally:
                self.rootfs.unmount(cid)
            return commit_upper(self.images, Path(info.upper_dir), state.diff_ids)
        finally:
            self.rootfs.remove(cid)
            self._made.remove(cid)

    def source(self, image_id: str) -> Path:
        """The mounted root filesystem of `image_id`, to read from."""
        path = self._sources.get(image_id)
        if path is None:
            cid = self._id("s")
            self.rootfs.prepare(cid, image_id)
            path = Path(self.rootfs.mount(cid).path)
            self._sources[image_id] = path
        return path

    def close(self) -> None:
        for cid in self._made:
            with contextlib.suppress(NotFound):
                self.rootfs.remove(cid)
        self._made.clear()
        self._sources.clear()
