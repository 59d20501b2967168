"""Configuration-only networks (`docker network create --config-only`) and
the networks made from one (`--config-from`), checked and worded as
libnetwork's validateConfiguration (403s): a configuration network holds
IPAM configs, driver options and labels and nothing else; a network made
from it takes them all and may name none of its own."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable

from hangu_runtime.errors import Forbidden, NotFound

from .models import NetworkRow
from .specs import NetworkSpec, PoolSpec


def check_config_only(spec: NetworkSpec) -> None:
    """What a --config-only network may not ask for."""
    if spec.config_from:
        raise Forbidden("a configuration network cannot depend on another configuration network")
    if spec.internal or spec.attachable:
        raise Forbidden(
            "configuration network can only contain network specific fields. Network "
            "operator fields like [ ingress | internal | attachable | scope ] are not supported."
        )


def config_network(rows: Iterable[NetworkRow], reference: str) -> NetworkRow:
    """The configuration network --config-from names, by name or id."""
    for row in rows:
        if row.config_only and reference in (row.name, row.id):
            return row
    raise NotFound(f'configuration network "{reference}" does not exist')


def inherit(spec: NetworkSpec, source: NetworkRow) -> NetworkSpec:
    """The network `spec` asks for, with the configuration of `source`;
    refused when it names any of its own."""
    if (
        spec.ipam_driver not in ("", "default")
        or spec.enable_ipv6
        or spec.labels
        or spec.ipam_options
        or spec.pools
    ):
        raise Forbidden(
            "user specified configurations are not supported if the network depends on a "
            "configuration network"
        )
    if spec.options:
        raise Forbidden(
            "network driver options are not supported if the network depends on a "
            "configuration network"
        )
    return dataclasses.replace(
        spec,
        enable_ipv6=source.enable_ipv6,
        labels=source.labels,
        options=source.options,
        ipam_options=dict(json.loads(source.ipam_options_json)),
        pools=pools_of(source),
        config_from=source.name,
    )


def pools_of(row: NetworkRow) -> list[PoolSpec]:
    """A network's IPAM config as it was asked for."""
    return [
        PoolSpec(
            subnet=c.subnet,
            gateway="" if c.gateway_implied else c.gateway,
            ip_range=c.ip_range,
            aux_addresses=c.aux_addresses,
        )
        for c in row.ipam_configs()
    ]


def config_only_row(spec: NetworkSpec, network_id: str) -> NetworkRow:
    """The row of a configuration network: its IPAM config as given (no
    subnet picked, none reserved), no bridge."""
    v4 = next((p for p in spec.pools if p.version == 4), PoolSpec())
    v6 = next((p for p in spec.pools if p.version == 6), PoolSpec())
    return NetworkRow(
        id=network_id,
        name=spec.name,
        driver="null",
        config_only=True,
        subnet=v4.subnet,
        gateway=v4.gateway,
        ip_range=v4.ip_range,
        subnet6=v6.subnet,
        gateway6=v6.gateway,
        ip_range6=v6.ip_range,
        aux_addresses_json=json.dumps(
            {k: v for p in spec.pools for k, v in p.aux_addresses.items()}
        ),
        enable_ipv6=spec.enable_ipv6,
        options_json=json.dumps(spec.options),
        labels_json=json.dumps(spec.labels),
        ipam_options_json=json.dumps(spec.ipam_options),
    )
