"""What every build works with: the stores, the distribution client, the
container service, and the folder builds work in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..distribution import Distribution
from ..images import ImageStore
from ..peers import ContainerClient
from ..rootfs import RootfsStore


@dataclass(frozen=True)
class Tools:
    images: ImageStore
    rootfs: RootfsStore
    distribution: Distribution
    containers: ContainerClient
    work_root: Path
