"""Large stdin and output through the whole stack with the docker CLI:
megabytes both ways, binary data (the detach sequence ctrl-p ctrl-q is just
data without a TTY), a slow reader and a slow writer (memory stays bounded
in the container service and the gateway), throughput, and the service
answering other calls meanwhile."""

from __future__ import annotations

import hashlib
import random
import subprocess
import threading
import time
from pathlib import Path

from tests.support.stack import DOCKER, Stack

MB = 1_000_000


def _payload(size: int, seed: int = 7) -> bytes:
    # Random bytes that certainly hold the default detach sequence.
    data = bytearray(random.Random(seed).randbytes(size))
    for pos in range(1000, size - 2, size // 7):
        data[pos : pos + 2] = b"\x10\x11"
    return bytes(data)


def _rss_kib(pid: int | None) -> int:
    assert pid is not None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _popen(stack: Stack, *args: str, stdin: int | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [DOCKER, *args], env=stack.env, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_20mb_binary_stdin(stack: Stack, busybox: str) -> None:
    data = _payload(20 * MB)
    t0 = time.monotonic()
    result = stack.run_docker("run", "-i", "--rm", busybox, "md5sum", input=data, timeout=90)
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0].decode() == hashlib.md5(data).hexdigest()
    print(f"20 MB stdin → md5sum: {elapsed:.2f}s ({20 / elapsed:.1f} MB/s)")
    assert elapsed < 20, f"{elapsed:.1f}s for 20 MB"


def test_round_trip_through_cat(stack: Stack, busybox: str) -> None:
    # Stdin and output at once: output back-pressure while stdin flows.
    data = _payload(8 * MB, seed=8)
    t0 = time.monotonic()
    result = stack.run_docker("run", "-i", "--rm", busybox, "cat", input=data, timeout=90)
    elapsed = time.monotonic() - t0
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) == len(data)
    assert hashlib.sha256(result.stdout).digest() == hashlib.sha256(data).digest()
    print(f"8 MB round trip through cat: {elapsed:.2f}s ({8 / elapsed:.1f} MB/s)")
    assert elapsed < 20, f"{elapsed:.1f}s for 8 MB"


def test_zeros_through_cat_to_wc(stack: Stack, busybox: str) -> None:
    result = subprocess.run(
        f"head -c 5000000 /dev/zero | {DOCKER} run -i --rm {busybox} cat | wc -c",
        shell=True,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "5000000"


def test_slow_reader_keeps_memory_bounded(stack: Stack, busybox: str) -> None:
    """200 MB of output to a reader that pauses: the container waits for it
    (back-pressure through the gateway, gRPC and conmon) instead of the
    services buffering; other calls are answered meanwhile."""
    ctr_pid, gw_pid = stack.pid("container"), stack.pid("gateway")
    before = _rss_kib(ctr_pid), _rss_kib(gw_pid)
    proc = _popen(stack, "run", "--rm", busybox, "sh", "-c", "head -c 200000000 /dev/zero")
    assert proc.stdout is not None
    peak = list(before)
    got = 0
    try:
        got += len(proc.stdout.read(1 << 20))
        # Pause: the container produces far faster than nothing.
        for _ in range(8):
            time.sleep(0.5)
            peak = [max(peak[0], _rss_kib(ctr_pid)), max(peak[1], _rss_kib(gw_pid))]
            t0 = time.monotonic()
            ps = stack.run_docker("ps", "-q", timeout=10)
            assert ps.returncode == 0
            assert time.monotonic() - t0 < 5, "the engine stalls behind a slow reader"
        t0 = time.monotonic()
        while chunk := proc.stdout.read1(1 << 20):
            got += len(chunk)
        elapsed = time.monotonic() - t0
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert got == 200 * MB
    print(f"rss before {before} KiB, peak {peak} KiB; drain {got / MB / elapsed:.1f} MB/s")
    assert peak[0] - before[0] < 64 * 1024, "container service buffered the output"
    assert peak[1] - before[1] < 64 * 1024, "gateway buffered the output"


def test_slow_writer_keeps_memory_bounded(stack: Stack, busybox: str) -> None:
    """200 MB of stdin for a container that reads only after a while: the
    client waits; neither service holds the data."""
    ctr_pid, gw_pid = stack.pid("container"), stack.pid("gateway")
    before = _rss_kib(ctr_pid), _rss_kib(gw_pid)
    proc = _popen(
        stack, "run", "-i", "--rm", busybox, "sh", "-c", "sleep 3; wc -c", stdin=subprocess.PIPE
    )
    assert proc.stdin is not None and proc.stdout is not None
    peak = list(before)
    block = b"\0" * (1 << 20)

    def feed() -> None:
        assert proc.stdin is not None
        try:
            for _ in range(200):
                proc.stdin.write(block)
            proc.stdin.close()
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:
            time.sleep(0.25)
            peak = [max(peak[0], _rss_kib(ctr_pid)), max(peak[1], _rss_kib(gw_pid))]
        out = proc.stdout.read()
        proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    writer.join(10)
    assert proc.returncode == 0
    assert out.strip() == str(200 * (1 << 20)).encode()
    print(f"rss before {before} KiB, peak {peak} KiB")
    assert peak[0] - before[0] < 64 * 1024, "container service buffered the stdin"
    assert peak[1] - before[1] < 64 * 1024, "gateway buffered the stdin"


def test_exec_large_binary_stdin(stack: Stack, busybox: str) -> None:
    name = "bigexec"
    assert stack.run_docker("run", "-d", "--name", name, busybox, "sleep", "300").returncode == 0
    try:
        data = _payload(10 * MB, seed=9)
        result = stack.run_docker("exec", "-i", name, "md5sum", input=data, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.split()[0].decode() == hashlib.md5(data).hexdigest()
    finally:
        stack.run_docker("rm", "-f", name)
