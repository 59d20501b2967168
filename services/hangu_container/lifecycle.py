"""Container lifecycle: create, start, stop, kill, restart, pause, wait,
remove, and what happens when a container exits (noticed through conmon's
exit file). Talks to peers only through `peers.Peers`."""

from __future__ import annotations

import contextlib
import copy
import shutil
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hangu_runtime import logging as hlog
from hangu_runtime.errors import Conflict, HanguError, Internal, InvalidArgument, NotFound
from hangu_runtime.events import EventBus
from hangu_runtime.timing import Phases

from . import names, networking, ocispec
from .creating import CreateRequest, create_container
from .exits import ExitWatcher
from .model import ContainerConfig, EndpointConfig, EndpointSettings, HostConfig, RestartPolicy
from .peers import Peers
from .registry import Live, Registry
from .runtime import Runtime
from .signals import parse_signal
from .starting import Starter

log = hlog.get_logger("hangu.container.lifecycle")


class Lifecycle:
    def __init__(
        self, registry: Registry, runtime: Runtime, peers: Peers, cgroup_parent: str = "/hangu"
    ) -> None:
        self.registry = registry
        self.rt = runtime
        self.peers = peers
        self.cgroup_parent = cgroup_parent
        self.starter = Starter(registry, runtime, peers, cgroup_parent)
        self.events = EventBus()
        # Called with the container id after each exit (e.g. to end logs -f).
        self.exit_hooks: list[Callable[[str], None]] = []
        self.shutdown_hooks: list[Callable[[], None]] = []
        # Called with the Live after each successful start (health checks).
        self.start_hooks: list[Callable[[Live], None]] = []
        # Called with the Live and True after a pause, False after an unpause.
        self.pause_hooks: list[Callable[[Live, bool], None]] = []
        # Exit handling and auto-removal run here, off the watcher thread.
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="exit")
        self.watcher: ExitWatcher | None = None

    # ------------------------------------------------------------ service

    def startup(self) -> None:
        """Load records and reconcile them with what conmon left behind."""
        lives = self.registry.load()
        self.watcher = ExitWatcher(self.rt.paths.exit_dir, self._exit_event)
        self.watcher.start()
        pending = self.watcher.pending()
        for live in lives:
            if not live.running:
                continue
            cid = live.id
            if cid in pending:
                self.handle_exit(cid, pending.pop(cid))
            elif self.rt.conmon_alive(live.ctr.state.conmon_pid, cid):
                log.info("reconciled_running", id=cid, conmon_pid=live.ctr.state.conmon_pid)
            else:
                code = self.rt.read_exit(cid)
                log.warning("conmon_gone", id=cid, exit_code=code)
                self.handle_exit(cid, 255 if code is None else code)
        for cid in pending:
            if self.registry.get(cid) is None:
                self.rt.cleanup(cid)

    def shutdown(self, purge: bool) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        if purge:
            for live in self.registry.all():
                try:
                    self.purge_one(live)
                except Exception:
                    log.exception("purge_failed", id=live.id)
        self.pool.shutdown(wait=True, cancel_futures=False)
        self.starter.pool.shutdown(wait=False)
        self.events.close()
        for hook in self.shutdown_hooks:
            hook()

    def purge_one(self, live: Live) -> None:
        """Kill the container and its conmon, undo its kernel state, forget it."""
        cid = live.id
        with live.lock:
            if live.running:
                try:
                    self.rt.kill(cid, signal.SIGKILL, all_processes=True)
                    if live.ctr.state.status == "paused":
                        self.rt.resume(cid)
                except HanguError:
                    pass
            self.rt.kill_conmon(live.ctr.state.conmon_pid, cid)
            self.starter.teardown(live)
            with contextlib.suppress(HanguError):
                self.peers.network.detach(cid)
            with contextlib.suppress(HanguError):
                self.peers.image.remove_rootfs(cid)
            for plan in live.ctr.mounts:
                if plan.type == "volume" and plan.name:
                    with contextlib.suppress(HanguError):
                        self.peers.volume.unmount(plan.name, cid)
            for session in live.waiting:
                session.end()
            self.registry.store.delete(cid)
            self.registry.drop(live)

    def emit(self, action: str, live: Live, **attrs: str) -> None:
        merged = dict(live.ctr.config.labels)
        merged.update(name=live.ctr.name, image=live.ctr.image)
        merged.update(attrs)
        self.events.emit(action, live.id, **merged)

    # ------------------------------------------------------------ create

    def create(self, req: CreateRequest) -> Live:
        live = create_container(self.registry, self.peers, req)
        self.emit("create", live)
        return live

    # ------------------------------------------------------------ start

    def start(self, ref: str) -> bool:
        """Start; True if it was already running (Docker's 304)."""
        live = self.registry.lookup(ref)
        try:
            with live.lock:
                if live.running:
                    return True
                if live.ctr.state.status == "removing":
                    raise Conflict(
                        f"container {live.id} is marked for removal and cannot be started"
                    )
                live.ctr.stopped_by_user = False
                self.starter.start(live)
                self._started(live)
        except HanguError:
            # dockerd removes an --rm container whose start failed (the docker
            # CLI waits for that removal before it reports the error).
            if live.ctr.host_config.auto_remove and not live.running:
                self._auto_remove(live)
            raise
        self.emit("start", live)
        return False

    def _started(self, live: Live) -> None:
        for hook in self.start_hooks:
            try:
                hook(live)
            except Exception:
                log.exception("start_hook_failed", id=live.id)

    def _paused(self, live: Live, paused: bool) -> None:
        for hook in self.pause_hooks:
            try:
                hook(live, paused)
            except Exception:
                log.exception("pause_hook_failed", id=live.id)

    # ------------------------------------------------------------ exits

    def _exit_event(self, cid: str, code: int) -> None:
        self.pool.submit(self._safe_exit, cid, code)

    def _safe_exit(self, cid: str, code: int) -> None:
        try:
            self.handle_exit(cid, code)
        except Exception:
            log.exception("exit_failed", id=cid)

    def handle_exit(self, cid: str, code: int) -> None:
        live = self.registry.get(cid)
        if live is None:
            self.rt.cleanup(cid)
            return
        with live.lock:
            if not live.running:
                return  # already handled (duplicate event)
            state = live.ctr.state
            state.status = "exited"
            state.exit_code = code
            state.finished_at = time.time()
            state.pid = 0
            state.oom_killed = self.rt.oom_killed(cid)
            # die before the network disconnects the teardown sends, as
            # dockerd orders them
            self.emit("die", live, exitCode=str(code))
            # Before the exit is visible: when `docker stop` returns, the
            # container's published ports are free again, as with dockerd.
            self.starter.teardown(live)
            with self.registry.cond:
                live.exits += 1
            self.registry.save(live)
            for hook in self.exit_hooks:
                hook(cid)
            restart = self._should_restart(live)
            if restart:
                state.status = "restarting"
                self.registry.save(live)
        log.info("container_exited", id=cid, exit_code=code, restart=restart)
        if restart:
            self.pool.submit(self._restart_after_exit, live)
        elif live.ctr.host_config.auto_remove:
            self.pool.submit(self._auto_remove, live)

    def _should_restart(self, live: Live) -> bool:
        ctr = live.ctr
        policy = ctr.host_config.restart_policy.name
        if ctr.stopped_by_user or policy in ("", "no"):
            return False
        if policy == "on-failure":
            if ctr.state.exit_code == 0:
                return False
            limit = ctr.host_config.restart_policy.maximum_retry_count
            return limit <= 0 or ctr.restart_count < limit
        return True

    def _restart_after_exit(self, live: Live) -> None:
        time.sleep(0.1)
        with live.lock:
            if live.removed or live.ctr.state.status != "restarting":
                return
            live.ctr.restart_count += 1
            try:
                self.starter.start(live)
                self._started(live)
            except HanguError as err:
                log.warning("restart_failed", id=live.id, error=err.message)
                live.ctr.state.status = "exited"
                self.registry.save(live)
                return
        self.emit("start", live)

    def _auto_remove(self, live: Live) -> None:
        try:
            self.remove(live.id, force=False, remove_volumes=True)
        except HanguError as err:
            log.info("auto_remove_skipped", id=live.id, error=err.message)

    # ------------------------------------------------------------ signals

    def _cancel_restart(self, live: Live) -> bool:
        """A container waiting to be restarted is stopped by cancelling that."""
        with live.lock:
            if live.ctr.state.status != "restarting":
                return False
            live.ctr.state.status = "exited"
            live.ctr.stopped_by_user = True
            self.registry.save(live)
            return True

    def _wait_exit(self, live: Live, seen: int, timeout: float | None) -> bool:
        return self.registry.wait_for(lambda: live.exits > seen or live.removed, timeout)

    def stop(self, ref: str, sig: str = "", timeout: int | None = None) -> bool:
        """Stop signal, then SIGKILL after the timeout; True if not running."""
        live = self.registry.lookup(ref)
        if not live.running:
            return True
        if self._cancel_restart(live):
            return False
        cfg = live.ctr.config
        if timeout is None:
            timeout = cfg.stop_timeout if cfg.stop_timeout is not None else 10
        signum = parse_signal(sig or cfg.stop_signal, signal.SIGTERM)
        with self.registry.cond:
            seen = live.exits
        live.ctr.stopped_by_user = True
        self.registry.save(live)
        # Each kill is told before the exit it causes can be (handle_exit
        # takes the lock to tell of the die).
        with live.lock:
            try:
                self.rt.kill(live.id, signum)
                if live.ctr.state.status == "paused":
                    self.rt.resume(live.id)
            except HanguError:
                pass
            self.emit("kill", live, signal=str(signum))
        if self._wait_exit(live, seen, None if timeout < 0 else float(timeout)):
            self.emit("stop", live)
            return False
        log.info("stop_timeout_kill", id=live.id, timeout=timeout)
        with live.lock:
            with contextlib.suppress(HanguError):
                self.rt.kill(live.id, signal.SIGKILL, all_processes=True)
            self.emit("kill", live, signal=str(int(signal.SIGKILL)))
        if not self._wait_exit(live, seen, 30):
            raise Internal(f"container {live.id} did not exit after SIGKILL")
        self.emit("stop", live)
        return False

    def kill(self, ref: str, sig: str = "") -> None:
        live = self.registry.lookup(ref)
        signum = parse_signal(sig, signal.SIGKILL)
        if live.ctr.state.status == "restarting" and signum == signal.SIGKILL:
            self._cancel_restart(live)
            return
        if live.ctr.state.status not in ("running", "paused"):
            raise Conflict(f"Container {live.id} is not running")
        if signum == signal.SIGKILL:
            live.ctr.stopped_by_user = True
        with self.registry.cond:
            seen = live.exits
        with live.lock:  # told before the die it may cause (as in stop)
            self.rt.kill(live.id, signum)
            if signum == signal.SIGKILL and live.ctr.state.status == "paused":
                self.rt.resume(live.id)
            self.emit("kill", live, signal=str(signum))
        if signum == signal.SIGKILL:
            # dockerd returns once a SIGKILLed container is gone.
            self._wait_exit(live, seen, 10)

    def restart(self, ref: str, sig: str = "", timeout: int | None = None) -> None:
        self.stop(ref, sig, timeout)
        self.start(ref)
        self.emit("restart", self.registry.lookup(ref))

    def pause(self, ref: str) -> None:
        live = self.registry.lookup(ref)
        with live.lock:
            if live.ctr.state.status == "paused":
                raise Conflict(f"Container {live.id} is already paused")
            if not live.running:
                raise Conflict(f"Container {live.id} is not running")
            self.rt.pause(live.id)
            live.ctr.state.status = "paused"
            self.registry.save(live)
            self._paused(live, True)
        self.emit("pause", live)

    def unpause(self, ref: str) -> None:
        live = self.registry.lookup(ref)
        with live.lock:
            if live.ctr.state.status != "paused":
                raise Conflict(f"Container {live.id} is not paused")
            self.rt.resume(live.id)
            live.ctr.state.status = "running"
            self.registry.save(live)
            self._paused(live, False)
        self.emit("unpause", live)

    # ------------------------------------------------------------ wait

    def wait(
        self, ref: str, condition: str = "", cancelled: threading.Event | None = None
    ) -> tuple[int, str]:
        live = self.registry.lookup(ref)
        condition = condition or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise InvalidArgument(f"invalid condition: {condition!r}")
        with self.registry.cond:
            seen = live.exits
            if condition == "not-running" and not live.running:
                return live.ctr.state.exit_code, live.ctr.state.error

            def done() -> bool:
                if cancelled is not None and cancelled.is_set():
                    return True
                if condition == "removed":
                    return live.removed
                return live.exits > seen or live.removed

            self.registry.cond.wait_for(done)
        if live.removed:
            # As dockerd (SetRemoved clears the error): a `--rm` container
            # whose start failed is waited for without an error, so the CLI
            # reports that failure once.
            return live.ctr.state.exit_code, ""
        return live.ctr.state.exit_code, live.ctr.state.error

    def cancel_wait(self, cancelled: threading.Event) -> None:
        """The waiting client left: its `wait` returns."""
        cancelled.set()
        self.registry.notify()

    # ------------------------------------------------------------ remove

    def remove_link(self, ref: str) -> None:
        """`docker rm --link /me/alias` (DELETE ?link=1): the link goes
        from the container that made it; dockerd's messages."""
        name = ref.strip("/")
        parent_name, _, alias = name.rpartition("/")
        if not parent_name:
            self.registry.lookup(ref)  # 404 for a missing one, as dockerd
            raise Internal("Conflict, cannot remove the default link name of the container")
        try:
            parent = self.registry.lookup(parent_name)
        except NotFound:
            raise NotFound(f"No such container: {name}") from None
        with parent.lock:
            hc = parent.ctr.host_config
            kept = [
                link for link in hc.links if link.partition(":")[2] != f"/{parent.ctr.name}/{alias}"
            ]
            if len(kept) == len(hc.links):
                raise NotFound(f"No such container: {name}")
            hc.links = kept
            self.registry.save(parent)

    def remove(self, ref: str, force: bool = False, remove_volumes: bool = False) -> None:
        live = self.registry.lookup(ref)
        cid = live.id
        if live.running and force:
            self._cancel_restart(live)
        if live.running:
            if not force:
                raise Conflict(
                    f"You cannot remove a running container {cid}. Stop the "
                    "container before attempting removal or force remove"
                )
            with self.registry.cond:
                seen = live.exits
            live.ctr.stopped_by_user = True
            try:
                self.rt.kill(cid, signal.SIGKILL, all_processes=True)
                if live.ctr.state.status == "paused":
                    self.rt.resume(cid)  # a frozen process cannot die
            except HanguError:
                pass
            if not self._wait_exit(live, seen, 30):
                raise Internal(f"container {cid} did not exit after SIGKILL")
        with live.lock:
            if live.removed:
                return
            if live.ctr.state.status == "removing":
                raise Conflict(f"removal of container {cid} is already in progress")
            if live.running:
                raise Conflict(
                    f"You cannot remove a running container {cid}. Stop the "
                    "container before attempting removal or force remove"
                )
            live.ctr.state.status = "removing"
            self.registry.save(live)
            self.starter.teardown(live)
            try:
                self.peers.network.detach(cid)
            except HanguError as err:
                log.warning("network_detach_failed", id=cid, error=err.message)
            try:
                self.peers.image.remove_rootfs(cid)
            except HanguError as err:
                log.warning("remove_rootfs_failed", id=cid, error=err.message)
            for plan in live.ctr.mounts:
                if plan.type != "volume" or not plan.name:
                    continue
                try:
                    self.peers.volume.unmount(plan.name, cid)
                    if remove_volumes and plan.anonymous:
                        self.peers.volume.remove(plan.name)
                except HanguError as err:
                    log.info("volume_release_failed", id=cid, volume=plan.name, error=err.message)
            shutil.rmtree(self.rt.paths.log_path(cid).parent, ignore_errors=True)
            for session in live.waiting:
                session.end()
            live.waiting.clear()
            self.registry.store.delete(cid)
            self.registry.drop(live)
        log.info("container_removed", id=cid)
        self.emit("destroy", live)

    # ------------------------------------------------------------ networks

    def connect_network(self, ref: str, network: str, endpoint: EndpointConfig) -> None:
        """`network connect`, in any state: the network service records it
        (and hot-plugs it into a running sandbox); the record follows."""
        phases = Phases("container_connect")
        live = self.registry.lookup(ref)
        request = networking.endpoint_request(network, endpoint)
        with live.lock:
            attached = self.peers.network.connect(live.id, live.ctr.name, request)
            phases.mark("network")
            self._keep_networks(live, networking.networks_from(attached))
            phases.mark("record")
        phases.done(container_id=live.id, network=network)

    def disconnect_network(self, ref: str, network: str, force: bool = False) -> None:
        try:
            live = self.registry.lookup(ref)
        except NotFound:
            if not force:
                raise
            # -f: a container that is gone must not keep a network busy.
            self.peers.network.disconnect(ref, network, force=True)
            return
        phases = Phases("container_disconnect")
        with live.lock:
            left = self.peers.network.disconnect(live.id, network, force=force)
            if left is None:
                left = self.peers.network.attachments(live.id)
            phases.mark("network")
            self._keep_networks(live, networking.networks_from(left))
            phases.mark("record")
        phases.done(container_id=live.id, network=network)

    def _keep_networks(self, live: Live, networks: dict[str, EndpointSettings]) -> None:
        """The attachments the network service reported after a change."""
        live.ctr.network_settings.networks = networks
        self.registry.save(live)

    # ------------------------------------------------------------ misc

    def resize(self, ref: str, height: int, width: int) -> None:
        live = self.registry.lookup(ref)
        if not live.running:
            raise Conflict(f"Container {live.id} is not running")
        if live.ctr.config.tty:
            try:
                self.rt.resize(live.id, height, width)
            except OSError as err:
                raise Internal(f"resize: {err}") from None

    def rename(self, ref: str, new_name: str) -> None:
        live = self.registry.lookup(ref)
        new_name = names.validate(new_name)
        old = live.ctr.name
        if old == new_name:
            raise InvalidArgument("Renaming a container with the same name as its current name")
        self.registry.reserve(new_name, live.id)
        try:
            # First the name peers resolve: a failure leaves the old name
            # everywhere. A container the network service never knew is fine.
            with contextlib.suppress(NotFound):
                self.peers.network.rename(live.id, new_name)
        except BaseException:
            self.registry.release(new_name, live.id)
            raise
        with live.lock:
            live.ctr.name = new_name
            self.registry.save(live)
        self.registry.release(old, live.id)
        self.emit("rename", live, oldName="/" + old)

    def update(self, ref: str, resources: HostConfig, policy: RestartPolicy | None) -> list[str]:
        """`docker update`: new resource limits (applied at once to a running
        container with `runc update`) and restart policy."""
        live = self.registry.lookup(ref)
        fields = (
            "cpu_shares",
            "memory",
            "cpu_period",
            "cpu_quota",
            "nano_cpus",
            "cpuset_cpus",
            "cpuset_mems",
            "memory_reservation",
            "memory_swap",
            "pids_limit",
            "blkio_weight",
        )
        with live.lock:
            hc = copy.deepcopy(live.ctr.host_config)
            for name in fields:
                value = getattr(resources, name)
                if value:
                    setattr(hc, name, value)
            if policy is not None and policy.name:
                if hc.auto_remove and policy.name not in ("no", ""):
                    raise InvalidArgument(
                        "Restart policy cannot be updated because AutoRemove "
                        "is enabled for the container"
                    )
                hc.restart_policy = copy.deepcopy(policy)
            if live.running:
                res = ocispec.resources(hc)
                res.pop("devices", None)
                self.rt.update(live.id, res)
            live.ctr.host_config = hc
            self.registry.save(live)
        self.emit("update", live)
        return []

    def cgroup_path(self, live: Live) -> str:
        hc, parent = live.ctr.host_config, self.cgroup_parent
        inp = ocispec.SpecInput(live.id, ContainerConfig(), hc, Path("/"), cgroup_parent=parent)
        return ocispec.cgroups_path(inp)

    def cgroup_procs(self, live: Live) -> list[int]:
        """Pids of the container's processes (from its pids cgroup)."""
        path = Path("/sys/fs/cgroup/pids") / self.cgroup_path(live).lstrip("/")
        try:
            return [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except OSError:
            return [live.ctr.state.pid] if live.ctr.state.pid else []
