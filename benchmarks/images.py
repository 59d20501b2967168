#!/usr/bin/env python3
"""Issue 3's image budgets, hangu beside a dockerd on this machine, one run:

- pull of a ~200 MB, 5-layer image (random, incompressible data) from a
  local registry: wall time (budget <= 1.0x dockerd) and the peak RSS of
  hangu's image service during the pull (budget < 150 MB);
- `docker images` with 300 images (budget <= 0.5x dockerd);
- `docker save` + `docker load` round trip of the pulled image (budget
  <= 1.0x dockerd): save to a file, remove the image (not timed), load it.

    .venv/bin/python benchmarks/images.py [-n 5] [--mb 200] [--json out.json]

Both engines start here on temporary roots (see run.py and dockerd.py), the
registry is Debian's docker-registry on 127.0.0.1, the image is pushed
into it with skopeo. Every sample is one docker CLI process (or a pipe of
them) on either side, interleaved. Nothing is left running afterwards."""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT))

from benchmarks.canned import canned_engine, record  # noqa: E402
from benchmarks.dockerd import running_dockerd  # noqa: E402
from benchmarks.rss import RssSampler  # noqa: E402
from benchmarks.run import Engine, client_env, host_conditions  # noqa: E402
from tests.support import busybox  # noqa: E402
from tests.support.registry import running_registry  # noqa: E402
from tests.support.stack import DOCKER, Stack  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
RSS_BUDGET_MB = 150.0


def _blob(blobs: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (blobs / digest.removeprefix("sha256:")).write_bytes(data)
    return digest


def big_layout(directory: Path, total_mb: int, layers: int = 5) -> Path:
    """An OCI layout of `layers` gzip layers of random bytes, `total_mb` in
    all (each layer built, written and dropped in turn: bounded memory)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    per_layer = total_mb * 1_000_000 // layers
    diff_ids, descs = [], []
    for i in range(layers):
        builder = busybox.LayerBuilder().dir(f"data{i}")
        for j in range(4):
            builder.file(f"data{i}/blob{j}", os.urandom(per_layer // 4))
        tar = builder.build()
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        blob = gzip.compress(tar, compresslevel=1, mtime=0)
        del tar
        descs.append({"mediaType": OCI_LAYER_GZIP, "digest": _blob(blobs, blob), "size": len(blob)})
        del blob
    config = json.dumps(
        {
            "architecture": busybox.host_arch(),
            "os": "linux",
            "created": busybox.CREATED,
            "config": {"Env": [busybox.PATH_ENV], "Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [
                {"created": busybox.CREATED, "created_by": f"bench layer {i}"}
                for i in range(layers)
            ],
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": _blob(blobs, config),
                "size": len(config),
            },
            "layers": descs,
        }
    ).encode()
    (directory / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (directory / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": _blob(blobs, manifest),
                        "size": len(manifest),
                        "annotations": {"org.opencontainers.image.ref.name": "latest"},
                    }
                ],
            }
        )
    )
    return directory


def many_images_archive(path: Path, count: int) -> Path:
    """One docker-archive holding `count` tiny distinct images, tagged
    bench/many-N:latest (one `docker load` creates them all)."""
    manifest = []
    with tarfile.open(path, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), busybox.MTIME
            tar.addfile(info, __import__("io").BytesIO(data))

        for n in range(count):
            layer = busybox.LayerBuilder().file(f"n{n}", str(n).encode()).build()
            diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
            config = json.dumps(
                {
                    "architecture": busybox.host_arch(),
                    "os": "linux",
                    "created": f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
                    "config": {"Cmd": ["sh"], "Labels": {"n": str(n)}},
                    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                }
            ).encode()
            cid = hashlib.sha256(config).hexdigest()
            add(f"{cid}.json", config)
            add(f"{diff_id.removeprefix('sha256:')}/layer.tar", layer)
            manifest.append(
                {
                    "Config": f"{cid}.json",
                    "RepoTags": [f"bench/many-{n}:latest"],
                    "Layers": [f"{diff_id.removeprefix('sha256:')}/layer.tar"],
                }
            )
        add("manifest.json", json.dumps(manifest).encode())
    return path


@dataclass
class Figures:
    name: str
    budget: float
    results: dict[str, list[float]] = field(default_factory=dict)

    def add(self, engine: str, seconds: float) -> None:
        self.results.setdefault(engine, []).append(seconds)

    def line(self) -> str:
        hangu = statistics.median(self.results["hangu"])
        dockerd = statistics.median(self.results["dockerd"])
        ratio = hangu / dockerd
        verdict = "ok" if ratio <= self.budget else "OVER"
        return (
            f"{self.name:<44} {hangu * 1000:>9.0f} ms {dockerd * 1000:>9.0f} ms "
            f"{ratio:>6.2f}x  (budget {self.budget:.1f}x: {verdict})"
        )


def shell_timed(engine: Engine, command: str) -> float:
    start = time.perf_counter()
    env = {**engine.env, "DOCKER_HOST": engine.host}
    result = subprocess.run(
        command, shell=True, env=env, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"{engine.name}: {command}: {result.stderr}")
    return time.perf_counter() - start


def api_get(host: str, path: str) -> float:
    """One GET over a new unix-socket connection, timed to the last byte:
    the engine's own cost, without the docker CLI's start-up and table
    rendering (which are the same for both engines)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    start = time.perf_counter()
    sock.connect(host.removeprefix("unix://"))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n".encode())
    data = b""
    while chunk := sock.recv(1 << 16):
        data += chunk
    took = time.perf_counter() - start
    sock.close()
    if b" 200 " not in data.split(b"\r\n", 1)[0]:
        raise RuntimeError(f"GET {path}: {data[:200]!r}")
    return took


def remove_image(engine: Engine, ref: str) -> None:
    engine.docker("rmi", "-f", ref, check=False, timeout=300)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--runs", type=int, default=5, help="pull and save/load samples")
    parser.add_argument("--list-runs", type=int, default=20, help="`docker images` samples")
    parser.add_argument("--mb", type=int, default=200, help="size of the pulled image")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--json", type=Path, help="also write the samples here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("benchmarks/images.py needs root (it starts dockerd and hangu)", file=sys.stderr)
        return 2

    tmp = Path(tempfile.mkdtemp(prefix="hgt-arc-b-", dir="/tmp"))
    try:
        return _run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(args: argparse.Namespace, tmp: Path) -> int:
    started = time.perf_counter()
    layout = big_layout(tmp / "layout", args.mb)
    many = many_images_archive(tmp / "many.tar", args.images)
    print(
        f"built a {args.mb} MB 5-layer image and {args.images} tiny images in "
        f"{time.perf_counter() - started:.1f}s",
        flush=True,
    )
    env = client_env(tmp)
    stack = Stack(
        "arc-bench",
        bridge_prefix="hga",
        subnet_pool="10.207.0.0/16",
        env={"HANGU_LOG_LEVEL": "info"},
    )
    pull = Figures(f"docker pull ({args.mb} MB, 5 layers)", 1.0)
    listing = Figures(f"docker images ({args.images} images)", 0.5)
    api_listing = Figures(f"  GET /v1.41/images/json ({args.images} images)", 0.5)
    roundtrip = Figures("docker save + docker load", 1.0)
    rss: list[tuple[int, int]] = []
    with running_registry() as registry, running_dockerd() as dockerd, stack:
        ref = f"{registry.host}/bench/big:latest"
        subprocess.run(
            [
                "skopeo",
                "--insecure-policy",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                f"oci:{layout}:latest",
                f"docker://{ref}",
            ],
            check=True,
            timeout=600,
        )
        shutil.rmtree(layout)
        engines = [Engine("hangu", stack.docker_host, env), Engine("dockerd", dockerd.host, env)]
        server = engines[1].docker("version", "--format", "{{.Server.Version}}").strip()
        print(f"hangu (this checkout) vs dockerd {server}; docker CLI {DOCKER}")
        print(f"host: {host_conditions()}")
        image_pid = stack.pid("image")
        assert image_pid is not None

        # -- pull: a clean engine each time (the image and its layers removed).
        for i in range(args.runs):
            for engine in engines if i % 2 == 0 else list(reversed(engines)):
                remove_image(engine, ref)
                if engine.name == "hangu":
                    with RssSampler(image_pid) as sampler:
                        pull.add(engine.name, shell_timed(engine, f"{DOCKER} pull -q {ref}"))
                    rss.append((sampler.hwm, sampler.peak_sampled))
                else:
                    pull.add(engine.name, shell_timed(engine, f"{DOCKER} pull -q {ref}"))
        print(pull.line(), flush=True)
        peak = max(h for h, _ in rss) / 1e6
        sampled = max(s for _, s in rss) / 1e6
        print(
            f"{'  image service peak RSS during pull':<44} {peak:>9.1f} MB (VmHWM; sampled "
            f"VmRSS {sampled:.1f} MB; budget < {RSS_BUDGET_MB:.0f} MB: "
            f"{'ok' if peak < RSS_BUDGET_MB else 'OVER'})",
            flush=True,
        )

        # -- save + load of the same image.
        for i in range(args.runs):
            for engine in engines if i % 2 == 0 else list(reversed(engines)):
                archive = tmp / f"{engine.name}-save.tar"
                took = shell_timed(engine, f"{DOCKER} save -o {archive} {ref}")
                remove_image(engine, ref)
                took += shell_timed(engine, f"{DOCKER} load -q -i {archive}")
                archive.unlink()
                roundtrip.add(engine.name, took)
        print(roundtrip.line(), flush=True)

        # -- docker images with many images.
        for engine in engines:
            remove_image(engine, ref)
            engine.docker("load", "-q", "-i", str(many), timeout=600)
            count = len(engine.docker("images", "-q").split())
            assert count >= args.images, (engine.name, count)
        for engine in engines:
            for _ in range(3):
                engine.docker("images")
        for i in range(args.list_runs):
            for engine in engines if i % 2 == 0 else list(reversed(engines)):
                start = time.perf_counter()
                engine.docker("images")
                listing.add(engine.name, time.perf_counter() - start)
        print(listing.line(), flush=True)
        for i in range(args.list_runs):
            for engine in engines if i % 2 == 0 else list(reversed(engines)):
                api_listing.add(engine.name, api_get(engine.host, "/v1.41/images/json"))
        print(api_listing.line(), flush=True)
        cli_floor = Figures("  docker images -q, nothing matching", 0.5)
        for i in range(args.list_runs):
            for engine in engines if i % 2 == 0 else list(reversed(engines)):
                start = time.perf_counter()
                engine.docker("images", "-q", "--filter", "reference=nomatch")
                cli_floor.add(engine.name, time.perf_counter() - start)
        print(
            cli_floor.line().split("  (budget")[0] + "  (no budget: the CLI start-up both pay)",
            flush=True,
        )
        # -- the floor: the same CLI against an engine that answers hangu's
        # bytes from memory at once. No engine can make `docker images`
        # faster than this, so it bounds the ratio any engine can reach.
        answers = record(stack.docker_host, ["/_ping", "/v1.47/images/json"])
        floor = Figures("  docker images, canned answer (CLI floor)", 0.5)
        with canned_engine(answers) as canned_host:
            canned = Engine("hangu", canned_host, env)
            for _ in range(3):
                canned.docker("images")
            for i in range(args.list_runs):
                start = time.perf_counter()
                canned.docker("images")
                floor.add("hangu", time.perf_counter() - start)
                floor.add("dockerd", listing.results["dockerd"][i])
        print(
            floor.line().split("  (budget")[0] + "  (best ratio any engine can reach)", flush=True
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {f.name: f.results for f in (pull, roundtrip, listing, api_listing)}
                | {"rss_hwm_bytes": [h for h, _ in rss]},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
