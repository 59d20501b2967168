#!/usr/bin/env python3
"""Times the same docker CLI operations against hangu and against a dockerd
on this machine, interleaved, and prints medians and the hangu/dockerd ratio.

    make bench                      # or: .venv/bin/python benchmarks/run.py -n 30

Both engines are started here on temporary roots: hangu from this checkout
(the supervisor, info-level logs, its own bridge and subnet), dockerd from
Debian's docker.io (installed if missing) with its own data root, exec root,
socket and bridge, iptables on. Both get the same busybox image with `docker
load`. Every sample is one `docker` CLI process, so both sides pay the same
client cost. Nothing is left running afterwards."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT))

from benchmarks import build, network  # noqa: E402
from benchmarks.dockerd import running_dockerd  # noqa: E402
from hangu_runtime.config import inherited_environment  # noqa: E402
from tests.support import busybox  # noqa: E402
from tests.support.dockercli import DOCKER  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

BUDGET = 1.0  # hangu's median may be at most this multiple of dockerd's, unless
# the operation names its own budget.


@dataclass
class Engine:
    name: str
    host: str
    env: dict[str, str]
    # What an operation's `prepare` made on this engine, for its samples.
    state: dict[str, str] = field(default_factory=dict)

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        result = subprocess.run(
            [DOCKER, "-H", self.host, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"{self.name}: docker {' '.join(args)}: {result.stderr}")
        return result.stdout


@dataclass
class Operation:
    name: str
    # Runs one sample, returns seconds; `setup`/`cleanup` are not timed.
    sample: Callable[[Engine], float]
    budget: float = BUDGET
    # An absolute budget for hangu's median instead (seconds), where the
    # issue names one.
    limit: float | None = None
    # Untimed, on each engine before the first and after the last sample.
    prepare: Callable[[Engine], None] | None = None
    finish: Callable[[Engine], None] | None = None
    # Further figures with budgets of their own (a line and whether it is
    # within its budget, None when it has none), printed after the times.
    extra: Callable[[], list[tuple[str, bool | None]]] | None = None
    results: dict[str, list[float]] = field(default_factory=dict)


def timed(engine: Engine, *args: str) -> float:
    start = time.perf_counter()
    engine.docker(*args)
    return time.perf_counter() - start


def create_and_remove(engine: Engine) -> float:
    start = time.perf_counter()
    cid = engine.docker("create", "busybox", "true").strip()
    engine.docker("rm", cid)
    return time.perf_counter() - start


def start_exec_target(engine: Engine) -> None:
    engine.state["exec"] = engine.docker("run", "-d", "busybox", "sleep", "3600").strip()


def stop_exec_target(engine: Engine) -> None:
    engine.docker("rm", "-f", engine.state.pop("exec"), check=False)


def run_detached_then_stop(engine: Engine) -> float:
    start = time.perf_counter()
    cid = engine.docker("run", "-d", "busybox", "sleep", "60").strip()
    engine.docker("rm", "-f", cid)
    return time.perf_counter() - start


OPERATIONS = {
    "run": Operation(
        "docker run --rm busybox true", lambda e: timed(e, "run", "--rm", "busybox", "true")
    ),
    "run-none": Operation(
        "docker run --rm --network none busybox true",
        lambda e: timed(e, "run", "--rm", "--network", "none", "busybox", "true"),
    ),
    "echo": Operation(
        "docker run --rm busybox echo hello",
        lambda e: timed(e, "run", "--rm", "busybox", "echo", "hello"),
    ),
    "run-d": Operation("docker run -d busybox sleep 60 + docker rm -f", run_detached_then_stop),
    "create": Operation("docker create + docker rm", create_and_remove),
    "exec": Operation(
        "docker exec CONTAINER true",
        lambda e: timed(e, "exec", e.state["exec"], "true"),
        prepare=start_exec_target,
        finish=stop_exec_target,
    ),
    "ps": Operation("docker ps -a", lambda e: timed(e, "ps", "-a")),
    "images": Operation("docker images", lambda e: timed(e, "images")),
    # Issue 7's budgets.
    "run-net": Operation(
        "docker run --rm --network NET busybox true",
        network.run_on_network,
        budget=0.5,
        prepare=network.make_network,
        finish=network.remove_network,
    ),
    "net-create": Operation(
        "docker network create + rm", network.create_and_remove_network, budget=0.5
    ),
    "connect": Operation(
        "docker network connect + disconnect (running)",
        network.connect_and_disconnect,
        budget=0.5,
        prepare=network.start_member,
        finish=network.stop_member,
    ),
    "dns": Operation(
        f"DNS lookup of a container name (median of {network.LOOKUPS})",
        network.dns_lookup,
        limit=0.002,
        prepare=network.start_dns_pair,
        finish=network.stop_dns_pair,
    ),
    # At least 0.9x dockerd's throughput is at most 1/0.9 of its time.
    "transfer": Operation(
        "1 GiB over TCP to a port on 127.0.0.1",
        network.transfer,
        budget=1 / 0.9,
        prepare=network.start_sink,
        finish=network.stop_sink,
    ),
    # Issue 8's budgets.
    "build-cached": Operation(
        "docker build, 6 steps, all cached",
        build.cached,
        budget=0.8,
        prepare=build.prepare_cached,
        finish=build.finish_cached,
        extra=lambda: build.rss_line("cached"),
    ),
    "build-nocache": Operation(
        "docker build --no-cache, 6 steps",
        build.uncached,
        budget=0.7,
        finish=build.finish_uncached,
        extra=lambda: build.rss_line("uncached"),
    ),
    "build-context": Operation(
        f"docker build, {build.CONTEXT_MB} MB context, {build.KEPT_MB} MB kept",
        build.big_context,
        budget=0.7,
        prepare=build.prepare_big,
        finish=build.finish_big,
        extra=lambda: build.rss_line("big"),
    ),
}
DEFAULT_OPS = ["run", "run-none", "run-d", "create", "ps"]
GROUPS = {
    "network": ["run-net", "net-create", "connect", "dns", "transfer"],
    "build": ["build-cached", "build-nocache", "build-context"],
}


def client_env(tmp: Path) -> dict[str, str]:
    config = tmp / "dockercfg"
    config.mkdir(exist_ok=True)
    (config / "config.json").write_text("{}")
    env = {k: v for k, v in inherited_environment().items() if not k.startswith("DOCKER_")}
    return {**env, "DOCKER_CONFIG": str(config), "DOCKER_CLI_HINTS": "false"}


def measure(engines: list[Engine], ops: list[Operation], runs: int, warmup: int) -> None:
    for op in ops:
        for engine in engines:
            if op.prepare:
                op.prepare(engine)
            for _ in range(warmup):
                op.sample(engine)
            op.results[engine.name] = []
        # Interleaved, alternating who goes first, so drift (page cache,
        # CPU frequency, other load) hits both sides alike.
        for i in range(runs):
            order = engines if i % 2 == 0 else list(reversed(engines))
            for engine in order:
                op.results[engine.name].append(op.sample(engine))
        for engine in engines:
            if op.finish:
                op.finish(engine)
        report_line(op)
        for line, _ in extra_lines(op):
            print(line, flush=True)


def extra_lines(op: Operation) -> list[tuple[str, bool | None]]:
    lines = op.extra() if op.extra else []
    return [
        (f"{text:<70} {'' if ok is None else 'ok' if ok else 'OVER'}".rstrip(), ok)
        for text, ok in lines
    ]


def report_line(op: Operation) -> None:
    hangu = statistics.median(op.results["hangu"])
    dockerd = statistics.median(op.results["dockerd"])
    ratio = hangu / dockerd
    limit = f"{op.limit * 1000:g} ms" if op.limit is not None else f"{op.budget:.2f}x"
    verdict = "ok" if within_budget(op) else f"OVER {limit}"
    times = f"{hangu * 1000:>9.2f} ms {dockerd * 1000:>9.2f} ms"
    print(f"{op.name:<48} {times} {ratio:>7.2f}x  {verdict}", flush=True)
    if op.sample is network.transfer:
        hangu_rate, dockerd_rate = (network.TRANSFER_BYTES / t / 1e6 for t in (hangu, dockerd))
        print(f"{'':<48} {hangu_rate:>9.0f} MB/s {dockerd_rate:>6.0f} MB/s", flush=True)


def within_budget(op: Operation) -> bool:
    hangu = statistics.median(op.results["hangu"])
    if op.limit is not None:
        return hangu <= op.limit
    return hangu / statistics.median(op.results["dockerd"]) <= op.budget


def host_conditions() -> str:
    """What dockerd did to the host's forwarding (hangu must cope with it)."""
    rules = subprocess.run(
        ["iptables", "-w", "-S", "FORWARD"], capture_output=True, text=True, check=False
    ).stdout.splitlines()
    policy = next((r.split()[2] for r in rules if r.startswith("-P FORWARD")), "?")
    nf = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    bridge_nf = nf.read_text().strip() if nf.exists() else "absent (no br_netfilter)"
    return f"iptables FORWARD policy {policy}; bridge-nf-call-iptables {bridge_nf}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", "--runs", type=int, default=20, help="samples per engine and op")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument(
        "--ops",
        default=",".join(DEFAULT_OPS),
        help=f"comma-separated, from: {', '.join(OPERATIONS)}; "
        "'network' for issue 7's, 'build' for issue 8's",
    )
    parser.add_argument("--json", type=Path, help="also write the samples here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("benchmarks/run.py needs root (it starts dockerd and hangu)", file=sys.stderr)
        return 2
    names = args.ops.split(",")
    ops = [OPERATIONS[n] for name in names for n in GROUPS.get(name, [name])]

    with tempfile.TemporaryDirectory(prefix="hgb-") as tmpdir:
        tmp = Path(tmpdir)
        archive = busybox.write_docker_archive(busybox.busybox_image(), tmp / "busybox.tar")
        env = client_env(tmp)
        stack = Stack(
            "bench",
            bridge_prefix="hgb",
            subnet_pool="10.205.0.0/16",
            env={"HANGU_LOG_LEVEL": "info"},
        )
        with running_dockerd() as dockerd, stack:
            engines = [
                Engine("hangu", stack.docker_host, env),
                Engine("dockerd", dockerd.host, env),
            ]
            for engine in engines:
                engine.docker("load", "-i", str(archive), timeout=300)
                engine.state["tmp"] = str(tmp)
            image_pid = stack.pid("image")
            assert image_pid is not None
            engines[0].state["image_pid"] = str(image_pid)
            server = engines[1].docker("version", "--format", "{{.Server.Version}}").strip()
            print(
                f"hangu (this checkout) vs dockerd {server}; docker CLI {DOCKER}; "
                f"{args.runs} interleaved runs per engine after {args.warmup} warm-up runs"
            )
            print(f"host: {host_conditions()}")
            print(f"{'operation':<48} {'hangu':>12} {'dockerd':>12} {'ratio':>8}")
            measure(engines, ops, args.runs, args.warmup)
            phases = network.sandbox_phases(stack.logs("network"))
            if phases:
                shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(phases.items()))
                print(f"hangu network set-up per container (median ms): {shown}")
            for engine in engines:
                leftover = engine.docker("ps", "-aq").split()
                if leftover:
                    engine.docker("rm", "-f", *leftover)
    over = [op.name for op in ops if not within_budget(op)]
    over += [line.strip() for op in ops for line, ok in extra_lines(op) if ok is False]
    print("\nevery operation within its budget" if not over else f"\nOVER budget: {over}")
    if args.json:
        args.json.write_text(json.dumps({op.name: op.results for op in ops}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
