"""The whole hangu stack, started from this checkout on a temporary root.

`running_stack()` (or `Stack(...).start()` / `.stop()`) runs the five
processes through the real supervisor with a unique data root and run dir
under /tmp (short paths: unix sockets), a unique bridge and nftables table,
a caller-given subnet pool and HANGU_PURGE_ON_STOP=1, so stopping it removes
every container, mount, namespace, bridge and table it made. `stop()` then
checks that nothing is left, cleans up whatever is (so one broken test does
not poison the next run), and raises if it had to.

    @pytest.fixture(scope="session")
    def stack():
        with running_stack("e2e", bridge_prefix="hge", subnet_pool="10.203.0.0/16") as s:
            yield s

    def test_echo(stack):
        out = stack.run_docker("run", "--rm", "busybox", "echo", "hi")
        assert out.returncode == 0 and out.stdout == "hi\\n"
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Re-exported: the tests take the docker CLI from here with the stack.
from tests.support.dockercli import DOCKER as DOCKER

CHECKOUT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = [CHECKOUT / "services", CHECKOUT / "cli", CHECKOUT / "deploy"]
SERVICES = ("volume", "network", "image", "container", "gateway")
MODULES = {name: f"hangu_{name}.main" for name in SERVICES}


def stack_available() -> str | None:
    """Why a stack cannot run here (None if it can): tests skip with it."""
    if os.geteuid() != 0:
        return "needs root"
    missing = [
        n for n in SERVICES if not (CHECKOUT / "services" / f"hangu_{n}" / "main.py").exists()
    ]
    if missing:
        return f"services not written yet: {', '.join(missing)}"
    return None


class StackError(RuntimeError):
    pass


class Stack:
    def __init__(
        self,
        name: str = "e2e",
        bridge_prefix: str = "hge",
        subnet_pool: str = "10.203.0.0/16",
        env: dict[str, str] | None = None,
        purge_on_stop: bool = True,
    ) -> None:
        suffix = secrets.token_hex(3)
        self.bridge = f"{bridge_prefix}{suffix}"[:15]
        self.nft_table = f"{bridge_prefix}_{suffix}"
        self.subnet_pool = subnet_pool
        self.tmp = Path(tempfile.mkdtemp(prefix=f"hgt-{name}-", dir="/tmp"))
        self.root = self.tmp / "root"
        self.run = self.tmp / "run"
        self.docker_config = self.tmp / "dockercfg"
        self.docker_config.mkdir()
        (self.docker_config / "config.json").write_text("{}")
        self.docker_socket = self.run / "hangu.sock"
        self.docker_host = f"unix://{self.docker_socket}"
        pythonpath = [str(p) for p in SOURCE_DIRS]
        if os.environ.get("PYTHONPATH"):
            pythonpath.append(os.environ["PYTHONPATH"])
        self.env: dict[str, str] = {
            **os.environ,
            "HANGU_ROOT": str(self.root),
            "HANGU_RUN": str(self.run),
            "HANGU_BRIDGE": self.bridge,
            "HANGU_NFT_TABLE": self.nft_table,
            "HANGU_SUBNET_POOL": split_pool(subnet_pool),
            "HANGU_LOG_LEVEL": "debug",
            # dockerd's daemon-wide --dns: names no container of the test
            # knows go to loopback, never to the host's real nameservers.
            "HANGU_DNS": "127.0.0.1",
            "PYTHONPATH": os.pathsep.join(pythonpath),
            "PYTHONUNBUFFERED": "1",
            # For the docker CLI, docker-py and the hangu CLI run by tests.
            "DOCKER_HOST": self.docker_host,
            "HANGU_HOST": self.docker_host,
            "DOCKER_CONFIG": str(self.docker_config),
            "DOCKER_CLI_HINTS": "false",
        }
        self.env.pop("DOCKER_TLS_VERIFY", None)
        self.env.pop("DOCKER_CONTEXT", None)
        self.purge_on_stop = purge_on_stop
        if purge_on_stop:
            self.env["HANGU_PURGE_ON_STOP"] = "1"
        self.env.update(env or {})
        self.started = False
        # Containers seen at teardown: their runc cgroups must be gone too.
        self.container_ids: set[str] = set()

    # -- lifecycle -------------------------------------------------------------

    def supervisor(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hangu_supervisor.main", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> Stack:
        result = self.supervisor("start")
        if result.returncode != 0:
            report = result.stdout + result.stderr
            with contextlib.suppress(Exception):
                self.stop()
            raise StackError(f"hangu stack did not start:\n{report}")
        self.started = True
        return self

    def stop(self, check: bool = True) -> list[str]:
        """Remove containers, stop (and purge) the stack, verify and clean.

        Returns what had to be cleaned by force; raises (after cleaning) if
        that is not empty and `check` is set."""
        problems = []
        if self.started and self._gateway_answers():
            # A hung engine must not keep the stack (and its kernel state)
            # alive: on a timeout, go on and stop it anyway.
            try:
                ids = self.run_docker("ps", "-aq", "--no-trunc", timeout=60).stdout.split()
                self.container_ids.update(ids)
                if ids:
                    self.run_docker("rm", "-f", *ids, timeout=120)
            except subprocess.TimeoutExpired as err:
                problems.append(f"docker timed out at teardown: {err.cmd}")
        # A stack started without HANGU_PURGE_ON_STOP needs the purge pass.
        try:
            stopped = self.supervisor("stop" if self.purge_on_stop else "purge", timeout=300)
            if stopped.returncode != 0:
                problems.append(
                    f"supervisor stop: rc={stopped.returncode} {stopped.stdout}{stopped.stderr}"
                )
        except subprocess.TimeoutExpired:
            problems.append("supervisor stop timed out")
        self.started = False
        leftovers = self.leftovers()
        if leftovers:
            self._force_clean()
        still = self.leftovers()
        if not still:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if check and (leftovers or still or problems):
            raise StackError(
                "hangu stack left state behind"
                f"\nleft after stop: {leftovers}\nleft after cleaning: {still}"
                f"\nproblems: {problems}"
            )
        return leftovers

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        # Do not hide the test's own error behind a cleanup error.
        self.stop(check=exc[0] is None)

    # -- driving it --------------------------------------------------------------

    def run_docker(
        self,
        *args: str,
        input: str | bytes | None = None,
        timeout: float = 120,
        check: bool = False,
    ) -> subprocess.CompletedProcess[Any]:
        """The real docker CLI against this stack; text output unless `input`
        is bytes."""
        return subprocess.run(
            [DOCKER, *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=not isinstance(input, bytes),
            timeout=timeout,
            check=check,
            stdin=subprocess.DEVNULL if input is None else None,
        )

    def run_cli(
        self, *args: str, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The hangu operator CLI against this stack."""
        return subprocess.run(
            [sys.executable, "-m", "hangu_cli.main", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL if input is None else None,
        )

    def docker_client(self) -> Any:
        import docker  # docker-py: only the tests need it

        return docker.DockerClient(base_url=self.docker_host, timeout=120)

    def load_image(self, archive: Path) -> None:
        """`docker load -i` a docker-archive (or OCI archive) into this stack."""
        result = self.run_docker("load", "-i", str(archive), timeout=300)
        if result.returncode != 0:
            raise StackError(f"docker load failed: {result.stderr}")

    # -- processes ---------------------------------------------------------------

    def pid(self, name: str) -> int | None:
        try:
            return int((self.run / "pids" / f"{name}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def status(self) -> dict[str, Any]:
        """The supervisor's view: {"services": [{"name", "state", "pid", ...}]}."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        try:
            sock.connect(str(self.run / "supervisor.sock"))
            sock.sendall(b'{"cmd": "status"}\n')
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        finally:
            sock.close()
        return json.loads(data)  # type: ignore[no-any-return]

    def service(self, name: str) -> dict[str, Any]:
        return next(s for s in self.status()["services"] if s["name"] == name)

    def kill_service(
        self, name: str, sig: int = signal.SIGKILL, wait: bool = True, timeout: float = 60
    ) -> int:
        """Signal one service process; returns its pid.

        With `wait`, return once the process is gone and, when the signal is
        a failure the supervisor restarts (SIGKILL, SIGSEGV, ...), once the
        new process answers. SIGTERM is a clean exit: no restart (call
        `start_service` or `restart_service`)."""
        pid = self.pid(name)
        if pid is None:
            raise StackError(f"{name} is not running")
        os.kill(pid, sig)
        if not wait:
            return pid
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if sig not in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            self.wait_running(name, other_than=pid, timeout=timeout)
        return pid

    def wait_running(self, name: str, other_than: int | None = None, timeout: float = 60) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.service(name)
            if info["state"] == "running" and info["pid"] and info["pid"] != other_than:
                return int(info["pid"])
            if info["state"] == "failed":
                break
            time.sleep(0.05)
        raise StackError(f"{name} did not come back:\n{self.logs(name)[-3000:]}")

    def restart_service(self, name: str) -> int:
        """SIGTERM one service, start it again, return once it answers.

        Careful: in a stack with `purge_on_stop` (the default) every service
        runs with HANGU_PURGE_ON_STOP=1, so a SIGTERM (this, `stop_service`,
        `kill_service(name, SIGTERM)`) makes it remove its kernel state (the
        container service kills its containers). To restart a service and
        keep its state, use `kill_service(name, SIGKILL)` or a stack made
        with `purge_on_stop=False` (whose `stop()` runs the purge pass)."""
        self._control("restart", name)
        return self.wait_running(name)

    def stop_service(self, name: str) -> None:
        self._control("stop-service", name)

    def start_service(self, name: str) -> int:
        self._control("start-service", name)
        return self.wait_running(name)

    def _control(self, command: str, name: str) -> None:
        result = self.supervisor(command, name)
        if result.returncode != 0:
            raise StackError(f"{command} {name}: {result.stdout}{result.stderr}")

    def logs(self, name: str) -> str:
        """A service's log (stdout and stderr), or the supervisor's."""
        try:
            return (self.run / "logs" / f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _gateway_answers(self) -> bool:
        if not self.docker_socket.exists():
            return False
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(5)
        try:
            sock.connect(str(self.docker_socket))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: x\r\n\r\n")
            return sock.recv(64).startswith(b"HTTP/1.")
        except OSError:
            return False
        finally:
            sock.close()

    # -- leftovers -------------------------------------------------------------

    def mounts(self) -> list[str]:
        """Mount points under this stack's temporary dir, deepest first."""
        points = []
        with open("/proc/self/mountinfo") as fh:
            for line in fh:
                point = _unescape(line.split()[4])
                if point == str(self.tmp) or point.startswith(str(self.tmp) + "/"):
                    points.append(point)
        return sorted(points, key=len, reverse=True)

    def processes(self) -> list[int]:
        """conmon, runc and container processes of this stack: their command
        line or root directory names the temporary dir."""
        found = []
        tmp = str(self.tmp)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                root = os.readlink(entry / "root")
            except OSError:
                continue
            if root.startswith(tmp) or (tmp in cmd and "pytest" not in cmd):
                found.append(int(entry.name))
        return found

    def nft_table_exists(self) -> bool:
        result = subprocess.run(
            ["nft", "list", "table", "inet", self.nft_table], capture_output=True, text=True
        )
        return result.returncode == 0

    def docker_user_rules(self) -> list[str]:
        result = subprocess.run(
            ["iptables", "-w", "-S", "DOCKER-USER"], capture_output=True, text=True
        )
        return [
            line
            for line in result.stdout.splitlines()
            if line.startswith("-A ") and self.bridge in line.split()
        ]

    def cgroups(self) -> list[Path]:
        """runc cgroups (parent /hangu, any controller) of this stack's containers."""
        known = set(self.container_ids)
        containers = self.root / "container" / "containers"
        if containers.is_dir():
            known.update(p.name for p in containers.iterdir() if len(p.name) == 64)
        found: list[Path] = []
        for cid in known:
            found += Path("/sys/fs/cgroup").glob(f"*/hangu/{cid}")
            found += Path("/sys/fs/cgroup").glob(f"hangu/{cid}")
        return sorted(set(found))

    def leftovers(self) -> list[str]:
        found = [f"mount {m}" for m in self.mounts()]
        found += [f"cgroup {c}" for c in self.cgroups()]
        found += [f"process {pid}: {_cmdline(pid)}" for pid in self.processes()]
        for name in (*SERVICES, "supervisor"):
            pid = self.pid(name)
            if pid is not None and _alive(pid) and "hangu_" in _cmdline(pid):
                found.append(f"{name} process {pid}")
        if Path(f"/sys/class/net/{self.bridge}").exists():
            found.append(f"bridge {self.bridge}")
        if self.nft_table_exists():
            found.append(f"nft table inet {self.nft_table}")
        found += [f"iptables {rule}" for rule in self.docker_user_rules()]
        return found

    def _force_clean(self) -> None:
        for name in ("supervisor", *SERVICES):
            pid = self.pid(name)
            if pid is not None and _alive(pid) and "hangu_" in _cmdline(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        for _ in range(3):
            for point in self.mounts():
                subprocess.run(["umount", "-l", point], capture_output=True)
        for cgroup in self.cgroups():
            with contextlib.suppress(OSError):
                cgroup.rmdir()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        subprocess.run(["nft", "delete", "table", "inet", self.nft_table], capture_output=True)
        for rule in self.docker_user_rules():
            subprocess.run(["iptables", "-w", "-D", *rule.split()[1:]], capture_output=True)


@contextlib.contextmanager
def running_stack(
    name: str = "e2e", bridge_prefix: str = "hge", subnet_pool: str = "10.203.0.0/16", **kwargs: Any
) -> Iterator[Stack]:
    """A started stack, stopped and checked on exit."""
    stack = Stack(name, bridge_prefix, subnet_pool, **kwargs)
    with stack:
        yield stack


def module_stack(name: str, bridge_prefix: str, subnet_pool: str, **kwargs: Any) -> Iterator[Stack]:
    """The body of an e2e module's `stack` fixture: skipped where no stack
    can run, else a started stack, stopped and checked afterwards."""
    reason = stack_available()
    if reason:
        pytest.skip(reason)
    with running_stack(name, bridge_prefix, subnet_pool, **kwargs) as stack:
        yield stack


def wait_for(check: Callable[[], Any], timeout: float = 10) -> Any:
    """The first truthy value of `check()`, polled every 0.1 s; its last
    value once `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def unique(prefix: str) -> str:
    """A name no other test run uses: prefix-<6 hex>."""
    return f"{prefix}-{secrets.token_hex(3)}"


def inspect(stack: Stack, what: str) -> dict[str, Any]:
    """`docker inspect` of one object (container, network, ...), which must exist."""
    done = stack.run_docker("inspect", what)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)[0]
    return doc


def split_pool(pool: str) -> str:
    """A pool entry wider than /24 becomes `CIDR:24` (split into /24s), so
    several stacks given the same pool (one session's CLI and deploy stacks,
    or a developer's run beside CI) each find a free subnet."""
    entries = []
    for entry in pool.split(","):
        entry = entry.strip()
        if entry and ":" not in entry and int(entry.partition("/")[2] or 32) < 24:
            entry += ":24"
        entries.append(entry)
    return ",".join(e for e in entries if e)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:200]
    except OSError:
        return "?"


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)
