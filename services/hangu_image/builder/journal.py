"""The RUN containers of one build, also written down in the build's work
folder: a build that dies with the image service leaves that list behind,
and the next start removes the containers it names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

FILE = "containers"


class ContainerJournal:
    def __init__(self, work: Path) -> None:
        self.path = work / FILE
        self._ids: list[str] = []

    def add(self, cid: str) -> None:
        self._ids.append(cid)
        with open(self.path, "a", encoding="ascii") as fh:
            fh.write(cid + "\n")

    def discard(self, cid: str) -> None:
        # The file keeps it: removing a removed container again is harmless.
        if cid in self._ids:
            self._ids.remove(cid)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._ids))


def leftovers(work_root: Path) -> list[str]:
    """The containers every build folder under `work_root` wrote down."""
    found: list[str] = []
    for journal in sorted(work_root.glob(f"*/{FILE}")):
        found.extend(line.strip() for line in journal.read_text("ascii").splitlines())
    return [cid for cid in found if cid]
