"""`docker image prune`: the dangling images (untagged, no child) by default;
with -a every image but the untagged intermediates, which go (or stay) with
their last child; filters until=<time> and label=/label!=. Each is removed
as `docker rmi` removes it, by each of its names or else by id, so its
untagged parents follow; children come before parents, so a tagged parent
is deleted rather than only untagged. An image a container uses stays. The
space reclaimed is what the deleted layers took, as dockerd counts it (a
layer another image still uses reclaims nothing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlmodel import Session, select

from hangu_runtime.errors import Conflict, NotFound
from hangu_runtime.filters import Args, match_labels, prune_until

from . import removal
from .images import ImageStore, ImageView
from .listing import created_ns, list_images
from .models import LayerRecord
from .reference import parse

# dockerd's imagesAcceptedFilters for prune.
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


def _layer_sizes(store: ImageStore) -> dict[str, int]:
    with Session(store.engine) as s:
        return {rec.chain_id: rec.size for rec in s.exec(select(LayerRecord)).all()}


def _depth(image_id: str, links: Mapping[str, str]) -> int:
    """How many local ancestors the image has (a loop in bad data ends it)."""
    depth, seen = 0, {image_id}
    parent = links.get(image_id, "")
    while parent in links and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = links[parent]
    return depth


def _names(store: ImageStore, view: ImageView) -> list[str]:
    """What dockerd hands to ImageDelete: each reference (in its lexical
    order of familiar names), or the id of an image without one."""
    refs = sorted((r.name for r in store.refs_of(view.id)), key=lambda n: parse(n).familiar)
    return refs or [view.id]


def prune(
    store: ImageStore, filters: Mapping[str, Sequence[str]], in_use: list[str]
) -> tuple[removal.RemoveResult, int]:
    args = Args(filters)
    args.validate(PRUNE_FILTERS)
    dangling_only = args.get_bool("dangling", True)
    until = prune_until(args, prefix="invalid value for 'until' filter: ")
    used = set(in_use)
    before = _layer_sizes(store)
    # A plain listing is dockerd's set of candidates: the untagged images
    # with children (intermediates) are left out of both.
    listing = list_images(store, {"dangling": ["true"]} if dangling_only else {})
    tops = []
    for view in listing.views:
        if view.id in used or not match_labels(args, view.labels):
            continue
        if until is not None and (
            (created := created_ns(view.record.created)) is None or created > until
        ):
            continue
        tops.append(view)
    links = store.parent_links()
    tops.sort(key=lambda view: _depth(view.id, links), reverse=True)

    total = removal.RemoveResult()
    for view in tops:
        for name in _names(store, view):
            try:
                result = removal.remove(store, name, in_use=used)
            except (Conflict, NotFound):
                continue  # went with an earlier one, or must stay
            total.untagged += result.untagged
            total.deleted += result.deleted
    after = _layer_sizes(store)
    reclaimed = sum(size for cid, size in before.items() if cid not in after)
    store.events.emit("prune", "", reclaimed=str(reclaimed))
    return total, reclaimed
