"""Creating a container: the image's config merged into the request (as
dockerd does), a name reserved or generated, the writable layer prepared by
the image service, volumes created by the volume service, the record
stored. Nothing runs yet."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass

from hangu.container.v1 import container_pb2 as pb
from hangu_runtime.errors import HanguError, InvalidArgument
from hangu_runtime.ids import new_id

from . import imageconfig, mounts, names
from .models import ContainerRow
from .peers import Peers
from .registry import Live, Registry
from .timing import Phases


@dataclass
class CreateRequest:
    name: str
    config: pb.ContainerConfig
    host_config: pb.HostConfig
    networking_config: pb.NetworkingConfig
    platform: str = ""


def create_container(registry: Registry, peers: Peers, req: CreateRequest) -> Live:
    """Every phase is timed (`create_phases` in the log)."""
    ph = Phases("create")
    name = names.validate(req.name) if req.name else ""
    image = peers.image.get(req.config.image)
    ph.mark("image_get")
    merged = imageconfig.merge(req.config, imageconfig.image_runtime_config(image.config_json))
    args = imageconfig.process_args(merged)
    hc = req.host_config
    plans = mounts.plan_mounts(merged, hc)
    if hc.restart_policy.name not in ("", "no", "always", "unless-stopped", "on-failure"):
        raise InvalidArgument(f"invalid restart policy '{hc.restart_policy.name}'")
    if hc.auto_remove and hc.restart_policy.name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    cid = new_id()
    if hc.network_mode in ("", "default"):
        hc = pb.HostConfig()
        hc.CopyFrom(req.host_config)
        hc.network_mode = "bridge"  # what dockerd stores for "default"
    if not merged.hostname and hc.network_mode != "host":
        merged.hostname = cid[:12]
    if name:
        registry.reserve(name, cid)
    else:
        name = names.generate(registry.names())
        registry.reserve(name, cid)
    ph.mark("validate")
    prepared = False
    referenced: list[str] = []
    try:
        rootfs = peers.image.prepare_rootfs(cid, image.id)
        prepared = True
        ph.mark("prepare_rootfs")
        for plan in plans:
            if plan.type == "volume":
                vol = peers.volume.ensure(
                    plan.name, driver="" if plan.driver == "local" else plan.driver
                )
                plan.name = vol.name
                # The container holds its volumes from create on, as with
                # dockerd: `volume rm` of a created container's volume is a
                # conflict. Start mounts again, with the image content to copy.
                peers.volume.mount(vol.name, cid)
                referenced.append(vol.name)
        ph.mark("volumes")
        row = ContainerRow(
            id=cid,
            name=name,
            created=time.time(),
            image=req.config.image,
            image_id=image.id,
            platform=req.platform or "linux",
            config=merged.SerializeToString(),
            host_config=hc.SerializeToString(),
            networking_config=req.networking_config.SerializeToString(),
            path=args[0],
            args_json=json.dumps(args[1:]),
            mounts_json=json.dumps([p.to_dict() for p in plans]),
            upper_dir=rootfs.upper_dir,
            image_size=image.size,
        )
        live = Live(row)
        registry.store.save(row)
        registry.add(live)
        ph.mark("store")
    except BaseException:
        registry.release(name, cid)
        for volume_name in referenced:
            with contextlib.suppress(HanguError):
                peers.volume.unmount(volume_name, cid)
        if prepared:
            with contextlib.suppress(HanguError):
                peers.image.remove_rootfs(cid)
        raise
    ph.done(id=cid, name=name)
    return live
