"""Starting a container and tearing its run-time state down again.

start: image.MountRootfs → volume.Mount (each volume) →
network.CreateSandbox → OCI spec → conmon + `runc create` → connect the
waiting attach clients → `runc start` → release their stdin. Every phase is timed. teardown (after
an exit or a failed start): `runc delete`, network.RemoveSandbox,
image.UnmountRootfs."""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from hangu.network.v1.network_pb2 import Sandbox
from hangu_runtime import logging as hlog
from hangu_runtime.errors import HanguError, InvalidArgument
from hangu_runtime.timing import Phases

from . import hostmodes, links, mounts, networking, ocispec, portspecs, starterrors
from .model import (
    Container,
    ContainerConfig,
    HostConfig,
    NetworkingConfig,
    NetworkSettings,
    PortBinding,
    PortBindings,
)
from .peers import Peers, SandboxRequest
from .registry import Live, Registry
from .runtime import CreateFailed, IOOptions, Runtime
from .sessions import pid_gone

log = hlog.get_logger("hangu.container.start")


def io_options(cfg: ContainerConfig, hc: HostConfig) -> IOOptions:
    size = hc.log_config.config.get("max-size", "")
    # dockerd closes a container's stdin when the attached client leaves
    # only for StdinOnce without a TTY (`echo x | docker run -i`); a TTY
    # session survives a detach (ctrl-p ctrl-q) or a lost client.
    return IOOptions(
        tty=cfg.tty,
        stdin=cfg.open_stdin,
        leave_stdin_open=cfg.tty or not cfg.stdin_once,
        log_size_max=parse_size(size) if size else 0,
    )


def parse_size(text: str) -> int:
    text = text.strip().lower()
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "b": 1}
    for suffix in ("kb", "mb", "gb", "k", "m", "g", "b"):
        if text.endswith(suffix):
            try:
                return int(float(text[: -len(suffix)]) * units[suffix[0]])
            except ValueError:
                break
    try:
        return int(text)
    except ValueError:
        raise InvalidArgument(f"invalid size: {text!r}") from None


def secure_join(root: Path, path: str, depth: int = 0) -> Path:
    """`path` inside `root`, following symlinks without leaving `root`."""
    if depth > 40:
        raise InvalidArgument(f"too many levels of symbolic links: {path}")
    cur = root
    for part in Path("/" + path).parts[1:]:
        if part == "..":
            cur = cur.parent if cur != root else root
            continue
        candidate = cur / part
        if candidate.is_symlink():
            target = os.readlink(candidate)
            if target.startswith("/"):
                cur = secure_join(root, target, depth + 1)
            else:
                rel = str(cur.relative_to(root) / target)
                cur = secure_join(root, rel, depth + 1)
        else:
            cur = candidate
    return cur


def sandbox_request(
    cid: str, name: str, cfg: ContainerConfig, hc: HostConfig, nc: NetworkingConfig
) -> SandboxRequest:
    return SandboxRequest(
        container_id=cid,
        container_name=name,
        hostname=cfg.hostname,
        domainname=cfg.domainname,
        network_mode=hc.network_mode,
        endpoints=networking.endpoint_requests(hc, nc),
        dns=list(hc.dns),
        dns_search=list(hc.dns_search),
        dns_options=list(hc.dns_options),
        extra_hosts=list(hc.extra_hosts),
        ports=portspecs.requests(cfg, hc),
    )


def network_settings(sandbox: object) -> NetworkSettings:
    key = getattr(sandbox, "sandbox_key", "")
    # dockerd's SandboxID belongs to a namespace of the container's own (or
    # the host's), none for container:<x>; hangu's sandbox is keyed by the
    # container.
    cid = getattr(sandbox, "container_id", "")
    ns = NetworkSettings(sandbox_id=cid if key else "", sandbox_key=key)
    for p in getattr(sandbox, "ports", []):
        key = f"{p.container_port}/{p.protocol}"
        ns.ports.setdefault(key, PortBindings()).bindings.append(
            PortBinding(host_ip=p.host_ip or "0.0.0.0", host_port=str(p.host_port))
        )
    attachments = getattr(sandbox, "attachments", None)
    if attachments is not None:
        ns.networks = networking.networks_from(attachments)
    return ns


class Starter:
    def __init__(
        self, registry: Registry, runtime: Runtime, peers: Peers, cgroup_parent: str
    ) -> None:
        self.registry = registry
        self.rt = runtime
        self.peers = peers
        self.cgroup_parent = cgroup_parent
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="start")

    def exit_code_after(self, live: Live, seen: int) -> int | None:
        """Block until the exit after `seen`; its code (None if removed first)."""
        self.registry.wait_for(lambda: live.exits > seen or live.removed)
        return live.ctr.state.exit_code if live.exits > seen else None

    def start(self, live: Live) -> None:
        """Caller holds live.lock."""
        ctr = live.ctr
        cid = ctr.id
        ph = Phases("start", id=cid)
        cfg, hc, nc = ctr.config, ctr.host_config, ctr.networking_config
        # The sandbox (network service) and the root filesystem and volumes
        # (image and volume services) do not depend on each other: ask for
        # both at once.
        ctx = contextvars.copy_context()
        pending = self.pool.submit(
            ctx.run, self.peers.network.create_sandbox, sandbox_request(cid, ctr.name, cfg, hc, nc)
        )
        try:
            joined = hostmodes.resolve(hc, self._lookup)
            link_env = links.start_env(ctr, self._lookup)
            rootfs = Path(self.peers.image.mount_rootfs(cid))
            ctr.rootfs_mounted = True
            ctr.rootfs_path = str(rootfs)
            ph.mark("mount_rootfs")
            # Host paths resolved for this start only (the record keeps the plan).
            plans = copy.deepcopy(ctr.mounts)
            for plan in plans:
                if plan.type == "volume":
                    copy_from = str(secure_join(rootfs, plan.destination)) if plan.copy_data else ""
                    plan.source = self.peers.volume.mount(plan.name, cid, copy_from)
                    ctr.volumes_mounted = True
                elif not os.path.exists(plan.source):
                    os.makedirs(plan.source, exist_ok=True)  # -v creates a missing source
            ph.mark("volumes")
            sandbox = self._take_sandbox(ctr, pending)
            ph.mark("sandbox_wait")
            if cfg.working_dir:
                secure_join(rootfs, cfg.working_dir).mkdir(parents=True, exist_ok=True)
            spec = ocispec.build_spec(
                ocispec.SpecInput(
                    container_id=cid,
                    config=cfg,
                    host_config=hc,
                    rootfs=rootfs,
                    netns_path=sandbox.netns_path,
                    hosts_path=sandbox.hosts_path,
                    hostname_path=sandbox.hostname_path,
                    resolv_conf_path=sandbox.resolv_conf_path,
                    mounts=mounts.to_oci(plans),
                    cgroup_parent=self.cgroup_parent,
                    joined=joined.namespaces,
                    shm_source=joined.shm_source,
                    link_env=link_env,
                    init_path=self.rt.init_binary() if hc.init else "",
                )
            )
            ph.mark("spec")
            created = self.rt.create(cid, ctr.name, spec, io_options(cfg, hc))
            ph.mark("runc_create")
            seen = live.exits
            sock = self.rt.paths.attach_socket(cid)
            # Output from the first byte on, but stdin only once `runc start`
            # has returned (see sessions.py): a client cannot wedge a start.
            attached = [s for s in live.waiting if not s.closed]
            for session in attached:
                session.connect(
                    sock,
                    functools.partial(self.exit_code_after, live, seen),
                    functools.partial(pid_gone, created.pid),
                    hold_stdin=True,
                )
            live.waiting.clear()
            ph.mark("attach")
            self.rt.start(cid)
            for session in attached:
                session.release_stdin()
            ph.mark("runc_start")
        except HanguError as err:
            if not ctr.sandbox_active:
                # Made while something else failed: it must go too.
                with contextlib.suppress(HanguError):
                    self._take_sandbox(ctr, pending)
            self._failed(live, err)
            raise self._start_error(err) from None
        state = ctr.state
        state.status = "running"
        state.pid = created.pid
        state.conmon_pid = created.conmon_pid
        state.started_at = time.time()
        state.finished_at = 0.0
        state.exit_code = 0
        state.error = ""
        state.oom_killed = False
        live.starts += 1
        self.registry.save(live)
        ph.mark("store")
        ph.done(pid=created.pid)

    def _lookup(self, ref: str) -> Container:
        return self.registry.lookup(ref).ctr

    @staticmethod
    def _take_sandbox(ctr: Container, pending: Future[Sandbox]) -> Sandbox:
        sandbox = pending.result()
        ctr.sandbox_active = True
        ctr.hosts_path = sandbox.hosts_path
        ctr.hostname_path = sandbox.hostname_path
        ctr.resolv_conf_path = sandbox.resolv_conf_path
        ctr.network_settings = network_settings(sandbox)
        return sandbox

    @staticmethod
    def _start_error(err: HanguError) -> HanguError:
        if isinstance(err, CreateFailed):
            verdict = starterrors.classify(err.message)
            if verdict.invalid:
                return InvalidArgument(verdict.message)
        return err

    def _failed(self, live: Live, err: HanguError) -> None:
        msg = err.message
        state = live.ctr.state
        verdict = starterrors.classify(msg) if isinstance(err, CreateFailed) else None
        if verdict is not None and verdict.exit_code:
            msg = verdict.message
            state.exit_code = verdict.exit_code
        elif state.exit_code == 0:
            # As dockerd: only when nothing set one (a container that had
            # exited with 137 keeps it after a start that failed).
            state.exit_code = 128
        state.error = msg
        log.warning("start_failed", id=live.id, error=msg)
        self.teardown(live)
        for session in live.waiting:
            session.end()
        live.waiting.clear()
        self.registry.save(live)

    def teardown(self, live: Live) -> None:
        """Undo what a start set up. Idempotent; peer errors are logged."""
        ctr = live.ctr
        cid = ctr.id
        self.rt.cleanup(cid)
        if ctr.sandbox_active:
            try:
                attachments = self.peers.network.remove_sandbox(cid)
                ctr.sandbox_active = False
                # The sandbox's id and key stay once stopped, as dockerd's.
                ctr.network_settings = NetworkSettings(
                    sandbox_id=ctr.network_settings.sandbox_id,
                    sandbox_key=ctr.network_settings.sandbox_key,
                    networks=networking.networks_from(attachments)
                    if attachments is not None
                    else ctr.network_settings.networks,
                )
            except HanguError as err:
                log.warning("remove_sandbox_failed", id=cid, error=err.message)
        if ctr.rootfs_mounted:
            try:
                self.peers.image.unmount_rootfs(cid)
                ctr.rootfs_mounted = False
            except HanguError as err:
                log.warning("unmount_rootfs_failed", id=cid, error=err.message)
        self.registry.store.save(ctr)
