"""Command groups of the `hangu` CLI. Each module has `register(sub)`, which
adds its commands to the argparse sub-parsers with `func(client, args) ->
exit code` as their default; a new group is a new module listed here."""

from __future__ import annotations

from . import containers, images, system

GROUPS = (system, containers, images)
