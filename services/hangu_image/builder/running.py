"""RUN steps: a real container of the container service (the same runtime,
isolation, network and limits as `docker run`), its output streamed into
the build's as it comes. The container is the caller's to commit and
remove; a cancelled build kills it."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from hangu.container.v1 import container_pb2 as cpb
from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime.errors import HanguError

from ..peers import ContainerClient
from ..progress import Cancelled
from .journal import ContainerJournal
from .options import RunLimits
from .output import BuildOutput, ProcessOutput


class StepFailed(Exception):
    """A step that Docker reports in the stream (errorDetail), with a code
    when a command's exit status is the cause."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def container_request(config: dict[str, Any], limits: RunLimits) -> cpb.CreateContainerRequest:
    cfg = cpb.ContainerConfig(
        user=str(config.get("User") or ""),
        env=list(config.get("Env") or []),
        image=str(config.get("Image") or ""),
        working_dir=str(config.get("WorkingDir") or ""),
        volumes=sorted(config.get("Volumes") or {}),
        labels=dict(config.get("Labels") or {}),
        attach_stdout=True,
        attach_stderr=True,
        args_escaped=bool(config.get("ArgsEscaped")),
    )
    cfg.cmd.CopyFrom(tpb.StringList(values=list(config.get("Cmd") or [])))
    # Set and empty: the image's ENTRYPOINT does not wrap a RUN command.
    cfg.entrypoint.CopyFrom(tpb.StringList(values=list(config.get("Entrypoint") or [])))
    host = cpb.HostConfig(
        network_mode=limits.network_mode,
        extra_hosts=list(limits.extra_hosts),
        shm_size=limits.shm_size,
        memory=limits.memory,
        memory_swap=limits.memory_swap,
        cpu_shares=limits.cpu_shares,
        cpuset_cpus=limits.cpuset_cpus,
        cpuset_mems=limits.cpuset_mems,
        cpu_period=limits.cpu_period,
        cpu_quota=limits.cpu_quota,
        cgroup_parent=limits.cgroup_parent,
        security_opt=list(limits.security_opt),
        ulimits=[cpb.Ulimit(name=u.name, soft=u.soft, hard=u.hard) for u in limits.ulimits],
    )
    return cpb.CreateContainerRequest(config=cfg, host_config=host)


def run_container(
    client: ContainerClient,
    config: dict[str, Any],
    limits: RunLimits,
    out: BuildOutput,
    cancel: threading.Event,
    created: ContainerJournal,
) -> str:
    """Run `config` to its end; its container's id. The id goes into
    `created` as soon as the container exists, so a failure leaves nothing
    the caller does not know of."""
    try:
        container = client.create(container_request(config, limits))
    except HanguError as err:
        raise StepFailed(err.message) from None
    cid = container.id
    created.add(cid)
    out.arrow(f"Running in {cid[:12]}")
    attachment = client.attach(cid)
    finished = threading.Event()

    def kill_on_cancel() -> None:
        while not finished.wait(0.2):
            if cancel.is_set():
                with contextlib.suppress(HanguError):
                    client.kill(cid)
                attachment.close()
                return

    watcher = threading.Thread(target=kill_on_cancel, name="build-run-cancel", daemon=True)
    watcher.start()
    code: int | None = None
    try:
        client.start(cid)
        process = ProcessOutput(out)
        for chunk in attachment.chunks():
            if chunk.data:
                process.write(2 if chunk.stream == cpb.OutputChunk.STDERR else 1, chunk.data)
            if chunk.exited:
                code = chunk.exit_code
        process.close()
    except HanguError as err:
        raise StepFailed(err.message) from None
    finally:
        finished.set()
        attachment.close()
        watcher.join()
    if cancel.is_set():
        raise Cancelled("build cancelled")
    if code is None:
        code = client.wait(cid)
    if code != 0:
        command = " ".join(config.get("Cmd") or [])
        raise StepFailed(f"The command '{command}' returned a non-zero code: {code}", code)
    return cid
