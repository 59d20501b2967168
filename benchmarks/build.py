"""The build budgets of issue 8, as operations for benchmarks/run.py, each a
`docker build` CLI process with the classic builder (DOCKER_BUILDKIT=0;
there is no buildx) on either engine:

- a fully cached rebuild of a 6-step Dockerfile (FROM busybox, then 1 ENV,
  3 RUN, 2 COPY; no RUN touches the network): <= 0.8x dockerd;
- the same Dockerfile built with --no-cache: <= 0.7x dockerd;
- a cached rebuild of it from a 200 MB context whose .dockerignore drops
  all but ~10 MB of it (the CLI walks the whole context, the engine gets,
  unpacks and checksums what is kept): <= 0.7x dockerd, and the image
  service's peak RSS (VmHWM, reset before each sample) under 150 MB.

Each operation writes its context once (under the harness's temporary
dir), builds the image once untimed (so a cached rebuild finds its cache),
and removes its image and everything dangling afterwards. A --no-cache
sample removes the image it made after it is timed, so every sample starts
from the same store."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Protocol

from benchmarks.rss import RssSampler
from tests.support.dockercli import DOCKER

RSS_BUDGET_MB = 150.0
CONTEXT_MB = 200
KEPT_MB = 10
TAG = "hgbench/build"

# The COPY of `{copied}` is the context's bulk (a small folder, or what the
# big context's .dockerignore keeps).
DOCKERFILE = """\
FROM busybox
ENV BENCH=1 PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN echo a > /a
COPY f1.txt /f1.txt
RUN sh -c 'seq 1 1000 > /b'
COPY {copied} /{copied}
RUN cat /a /b /f1.txt > /c
"""

# The image service's VmHWM (bytes) during each hangu sample, by operation.
PEAK_RSS: dict[str, list[int]] = {}


class Docker(Protocol):
    name: str
    host: str
    env: dict[str, str]
    state: dict[str, str]

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> str: ...


def _small_context(root: Path) -> None:
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE.format(copied="dir"))
    (root / "f1.txt").write_text("hello from the build benchmark\n")
    folder = root / "dir"
    folder.mkdir()
    for i in range(20):
        (folder / f"file{i}.txt").write_text(f"{i}\n" * 200)


def _big_context(root: Path) -> None:
    """CONTEXT_MB of random 1 MB files in blobs/, of which .dockerignore
    keeps KEPT_MB (blobs/keep-*), plus the small files the steps copy."""
    root.mkdir(parents=True)
    (root / "Dockerfile").write_text(DOCKERFILE.format(copied="blobs"))
    (root / "f1.txt").write_text("hello from the build benchmark\n")
    (root / ".dockerignore").write_text("blobs\n!blobs/keep-*\n*.log\n")
    blobs = root / "blobs"
    blobs.mkdir()
    for i in range(CONTEXT_MB):
        name = f"keep-{i:03d}.bin" if i < KEPT_MB else f"drop-{i:03d}.bin"
        (blobs / name).write_bytes(os.urandom(1 << 20))


CONTEXTS = {"small": _small_context, "big": _big_context}


def _context(engine: Docker, kind: str) -> Path:
    """The context folder (written once, shared by both engines)."""
    root = Path(engine.state["tmp"]) / f"build-{kind}"
    if not root.exists():
        CONTEXTS[kind](root)
    return root


def _build(engine: Docker, context: Path, tag: str, *flags: str) -> float:
    env = {**engine.env, "DOCKER_BUILDKIT": "0"}
    start = time.perf_counter()
    result = subprocess.run(
        [DOCKER, "-H", engine.host, "build", *flags, "-t", tag, str(context)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    took = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{engine.name}: docker build {context}: {result.stderr}")
    return took


def _sampled(engine: Docker, key: str, context: Path, tag: str, *flags: str) -> float:
    if engine.name != "hangu":
        return _build(engine, context, tag, *flags)
    with RssSampler(int(engine.state["image_pid"])) as sampler:
        took = _build(engine, context, tag, *flags)
    PEAK_RSS.setdefault(key, []).append(sampler.hwm)
    return took


def _remove(engine: Docker, tag: str) -> None:
    engine.docker("rmi", "-f", tag, check=False, timeout=120)
    engine.docker("image", "prune", "-f", check=False, timeout=120)


# -- a fully cached rebuild -----------------------------------------------------------


def prepare_cached(engine: Docker) -> None:
    _build(engine, _context(engine, "small"), f"{TAG}:cached")


def finish_cached(engine: Docker) -> None:
    _remove(engine, f"{TAG}:cached")


def cached(engine: Docker) -> float:
    return _sampled(engine, "cached", _context(engine, "small"), f"{TAG}:cached")


# -- --no-cache --------------------------------------------------------------------------


def uncached(engine: Docker) -> float:
    took = _sampled(engine, "uncached", _context(engine, "small"), f"{TAG}:nocache", "--no-cache")
    _remove(engine, f"{TAG}:nocache")
    return took


def finish_uncached(engine: Docker) -> None:
    _remove(engine, f"{TAG}:nocache")


# -- a 200 MB context, most of it ignored ------------------------------------------------


def prepare_big(engine: Docker) -> None:
    _build(engine, _context(engine, "big"), f"{TAG}:big")


def finish_big(engine: Docker) -> None:
    _remove(engine, f"{TAG}:big")


def big_context(engine: Docker) -> float:
    return _sampled(engine, "big", _context(engine, "big"), f"{TAG}:big")


def rss_line(key: str) -> list[tuple[str, bool | None]]:
    """The image service's peak RSS during the samples of one operation;
    the budget applies to the big context's."""
    if key not in PEAK_RSS:
        return []
    peak = max(PEAK_RSS[key]) / 1e6
    if key != "big":
        return [(f"  image service peak RSS: {peak:.1f} MB (no budget)", None)]
    return [
        (
            f"  image service peak RSS: {peak:.1f} MB (budget < {RSS_BUDGET_MB:.0f} MB)",
            peak < RSS_BUDGET_MB,
        )
    ]
