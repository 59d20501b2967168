"""Creating a container: the image's config merged into the request (as
dockerd does), a name reserved or generated, the writable layer prepared by
the image service, volumes created by the volume service, the record
stored. Nothing runs yet."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import time
from dataclasses import dataclass

from hangu_runtime.errors import HanguError, InvalidArgument, NotFound
from hangu_runtime.ids import new_id
from hangu_runtime.timing import Phases

from . import (
    devices,
    healthcheck,
    hostmodes,
    imageconfig,
    links,
    mounts,
    names,
    networking,
    portspecs,
)
from .model import (
    Container,
    ContainerConfig,
    EndpointConfig,
    HostConfig,
    NetworkingConfig,
    NetworkSettings,
)
from .peers import Peers
from .registry import Live, Registry


@dataclass
class CreateRequest:
    name: str
    config: ContainerConfig
    host_config: HostConfig
    networking_config: NetworkingConfig
    platform: str = ""


def create_container(registry: Registry, peers: Peers, req: CreateRequest) -> Live:
    """Every phase is timed (`create_phases` in the log)."""
    ph = Phases("create")
    name = names.validate(req.name) if req.name else ""
    healthcheck.validate(req.config.healthcheck)
    devices.validate(list(req.host_config.devices), list(req.host_config.device_cgroup_rules))
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
    portspecs.validate(hc)
    hc = hostmodes.check(hc, registry.exists)
    networking.check_network_mode(req.config, hc)
    networking.check_links(hc, registry.exists)
    cid = new_id()
    if hc.network_mode in ("", "default"):
        hc = dataclasses.replace(hc, network_mode="bridge")  # what dockerd stores for "default"
    if not merged.hostname and hc.network_mode != "host":
        merged.hostname = cid[:12]
    net_mode = hc.network_mode
    if net_mode.startswith("container:"):
        # As given in HostConfig; the network service gets the full id. A
        # container that does not exist (yet) is looked up at start, as
        # dockerd does: a 404 here would send the CLI off to pull the image.
        with contextlib.suppress(NotFound):
            net_mode = "container:" + registry.lookup(net_mode.partition(":")[2]).id
    if name:
        registry.reserve(name, cid)
    else:
        name = names.generate(registry.names())
        registry.reserve(name, cid)
    hc, nc = _legacy_links(hc, req.networking_config, name, registry)
    ph.mark("validate")
    prepared = attached = False
    referenced: list[str] = []
    try:
        # The container's networks are the network service's record from
        # now on; it refuses what Docker refuses before anything is made.
        attachments = peers.network.attach(
            cid, name, net_mode, networking.endpoint_requests(hc, nc)
        )
        attached = True
        ph.mark("networks")
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
        ctr = Container(
            id=cid,
            name=name,
            created=time.time(),
            image=req.config.image,
            image_id=image.id,
            platform=req.platform or "linux",
            config=merged,
            host_config=hc,
            networking_config=nc,
            path=args[0],
            args=args[1:],
            mounts=plans,
            upper_dir=rootfs.upper_dir,
            image_size=image.size,
            network_settings=NetworkSettings(networks=networking.networks_from(attachments)),
        )
        live = Live(ctr)
        registry.store.save(ctr)
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
        if attached:
            with contextlib.suppress(HanguError):
                peers.network.detach(cid)
        raise
    ph.done(id=cid, name=name)
    return live


def _legacy_links(
    hc: HostConfig, nc: NetworkingConfig, name: str, registry: Registry
) -> tuple[HostConfig, NetworkingConfig]:
    """As dockerd keeps `--link`: in HostConfig.Links as `/target:/me/alias`
    on the default bridge; on another network as the endpoint's links, as
    given (HostConfig.Links null)."""
    if not hc.links:
        return hc, nc
    if hc.network_mode in links.DEFAULT_BRIDGE:
        return dataclasses.replace(
            hc, links=links.stored(list(hc.links), name, lambda r: registry.lookup(r).ctr)
        ), nc
    endpoints = dict(nc.endpoints_config)
    ep = copy.deepcopy(endpoints.get(hc.network_mode, EndpointConfig()))
    ep.links = list(dict.fromkeys([*ep.links, *hc.links]))
    endpoints[hc.network_mode] = ep
    return dataclasses.replace(hc, links=[]), dataclasses.replace(nc, endpoints_config=endpoints)
