"""`docker image prune`: dangling images (no tag, no child) by default,
every unused image with -a; filters until=<time> and label=/label!=;
the space reclaimed is what the deleted layers took, as dockerd counts it
(a layer another image still uses reclaims nothing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlmodel import Session, select

from hangu_runtime.errors import Conflict
from hangu_runtime.filters import Args, match_labels, prune_until

from . import removal
from .images import ImageStore
from .listing import created_ns, list_images
from .models import LayerRecord

# dockerd's imagesAcceptedFilters for prune.
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


def _layer_sizes(store: ImageStore) -> dict[str, int]:
    with Session(store.engine) as s:
        return {rec.chain_id: rec.size for rec in s.exec(select(LayerRecord)).all()}


def prune(
    store: ImageStore, filters: Mapping[str, Sequence[str]], in_use: list[str]
) -> tuple[removal.RemoveResult, int]:
    args = Args(filters)
    args.validate(PRUNE_FILTERS)
    dangling_only = args.get_bool("dangling", True)
    until = prune_until(args, prefix="invalid value for 'until' filter: ")
    used = set(in_use)
    before = _layer_sizes(store)
    total = removal.RemoveResult()
    listing = list_images(store, {"dangling": ["true"]} if dangling_only else {}, all_=True)
    for view in listing.views:
        if view.id in used:
            continue
        if until is not None and (
            (created := created_ns(view.record.created)) is None or created > until
        ):
            continue
        if not match_labels(args, view.labels):
            continue
        if store.get_record(view.id) is None:
            continue  # went with an earlier one
        try:
            result = removal.remove(store, view.id, force=True)
        except Conflict:
            continue
        total.untagged += result.untagged
        total.deleted += result.deleted
    after = _layer_sizes(store)
    reclaimed = sum(size for cid, size in before.items() if cid not in after)
    store.events.emit("prune", "", reclaimed=str(reclaimed))
    return total, reclaimed
