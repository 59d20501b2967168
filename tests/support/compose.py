"""docker-compose 1.29 (Debian's) against a test stack: one project in one
folder, each call a real `docker-compose -p <project>` process."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.support.stack import Stack

COMPOSE = "/usr/bin/docker-compose"


def compose_missing() -> str | None:
    return None if shutil.which(COMPOSE) else "docker-compose is not installed"


class Compose:
    def __init__(self, stack: Stack, project: str, folder: Path, timeout: float = 300) -> None:
        self.stack, self.project, self.folder, self.timeout = stack, project, folder, timeout

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [COMPOSE, "-p", self.project, *args],
            cwd=self.folder,
            env=self.stack.env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            stdin=subprocess.DEVNULL,
        )
