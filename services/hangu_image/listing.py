"""`docker images` and `docker system df` over the image store: which
images a plain listing shows (dockerd hides untagged parents unless -a),
and the disk use figures (shared size per image, all layers counted once).

Everything here reads the database once per call (all images, all layers,
all references) instead of once per image: a listing of 300 images is on
the path of `docker images`, whose budget is half of dockerd's time."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, select

from hangu_runtime.errors import InvalidArgument
from hangu_runtime.filters import Args
from hangu_runtime.timeparse import TimeParseError, parse_rfc3339
from hangu_runtime.timeparse import parse as parse_time

from .images import ImageStore, ImageView, ref_matches
from .models import ImageRecord, LayerRecord, RefRecord
from .reference import parse

# dockerd's acceptedImageFilterTags.
KNOWN_FILTERS = frozenset({"dangling", "reference", "label", "before", "since", "until"})


@dataclass
class Listing:
    views: list[ImageView]
    shared: dict[str, int] = field(default_factory=dict)  # image id -> shared size
    layers_size: int = 0


def created_ns(text: str) -> int | None:
    """An image config's `created` (RFC 3339), None when absent or unreadable
    (dockerd's nil Created: no `until` selects it)."""
    try:
        return parse_rfc3339(text.strip())
    except TimeParseError:
        return None


def _until_ns(args: Args) -> int | None:
    """The earliest of the listing's `until` values (dockerd takes several)."""
    cutoffs = []
    for value in args.get("until"):
        try:
            cutoffs.append(parse_time(value))
        except TimeParseError as err:
            raise InvalidArgument(f"invalid value for 'until' filter: {err}") from None
    return min(cutoffs) if cutoffs else None


def list_images(
    store: ImageStore,
    filters: Mapping[str, Sequence[str]],
    all_: bool = False,
    shared_size: bool = False,
) -> Listing:
    """Cached until the next write to images or references: `docker images`
    repeated over an unchanged store answers from memory."""
    key = (json.dumps(filters, sort_keys=True), all_, shared_size)
    generation = store.generation
    cached = store.listing_cache
    if cached is not None and cached[0] == generation and cached[1] == key:
        return cached[2]  # type: ignore[no-any-return]
    listing = _list_images(store, filters, all_, shared_size)
    store.listing_cache = (generation, key, listing)
    return listing


def _list_images(
    store: ImageStore, filters: Mapping[str, Sequence[str]], all_: bool, shared_size: bool
) -> Listing:
    args = Args(filters)
    args.validate(KNOWN_FILTERS)
    dangling = args.get_bool("dangling", False) if args.contains("dangling") else None
    until = _until_ns(args)
    before = [store.resolve(v).added for v in args.get("before")]
    since = [store.resolve(v).added for v in args.get("since")]
    patterns = args.get("reference")

    with Session(store.engine) as s:
        records = list(s.exec(select(ImageRecord)).all())
        layers = {rec.chain_id: rec.size for rec in s.exec(select(LayerRecord)).all()}
        refs = list(s.exec(select(RefRecord).order_by(RefRecord.added)).all())  # type: ignore[arg-type]
    names: dict[str, tuple[list[str], list[str]]] = {}
    for ref in refs:
        tags, digests = names.setdefault(ref.image_id, ([], []))
        (digests if ref.is_digest else tags).append(parse(ref.name).familiar)
    parents = {rec.parent for rec in records if rec.parent}

    out: list[ImageView] = []
    for rec in sorted(records, key=lambda r: r.added, reverse=True):
        if before and rec.added >= min(before):
            continue
        if since and rec.added <= max(since):
            continue
        if until is not None and ((created := created_ns(rec.created)) is None or created >= until):
            continue
        tags, digests = names.get(rec.id, ([], []))
        tags, digests = list(tags), list(digests)
        has_children = rec.id in parents
        if patterns:
            tags = [t for t in tags if ref_matches(t, patterns)]
            digests = [d for d in digests if ref_matches(d, patterns)]
            if not tags and not digests:
                continue
        if not tags and not digests:
            # An untagged parent is an intermediate image: only with -a.
            if (has_children and not all_) or dangling is False:
                continue
        elif dangling is True and tags:
            continue
        if dangling is True and has_children:
            continue
        config_json, config = store.config_of(rec.id)
        labels = dict((config.get("config") or {}).get("Labels") or {})
        if not args.match_kv_list("label", labels):
            continue
        sizes = [layers.get(cid, 0) for cid in rec.chain_ids]
        out.append(ImageView(rec, config_json, config, tags, digests, sizes))

    listing = Listing(out)
    if shared_size:
        # A layer is shared when more than one image (listed or not) uses it.
        users: Counter[str] = Counter()
        for rec in records:
            users.update(set(rec.chain_ids))
        for view in out:
            listing.shared[view.id] = sum(
                layers.get(cid, 0) for cid in set(view.record.chain_ids) if users[cid] > 1
            )
        listing.layers_size = sum(layers.values())
    return listing
