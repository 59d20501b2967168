"""`docker image prune`: dangling images (no tag, no child) by default,
every unused image with -a; filters until=<time> and label=/label!=;
the space reclaimed is what the deleted layers took, as dockerd counts it
(a layer another image still uses reclaims nothing)."""

from __future__ import annotations

import re
import time
from datetime import datetime

from sqlmodel import Session, select

from hangu_runtime.errors import Conflict, InvalidArgument

from . import removal
from .images import ImageStore, labels_match
from .listing import list_images
from .models import LayerRecord

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def parse_until(value: str, now: float | None = None) -> float:
    """Docker's timestamp filter: a Go duration back from now ("24h",
    "1h30m"), a unix time ("1700000000.5"), or an RFC 3339 date/time."""
    now = time.time() if now is None else now
    text = value.strip()
    parts = _DURATION.findall(text)
    if parts and "".join(n + u for n, u in parts) == text:
        return now - sum(float(n) * _UNIT[u] for n, u in parts)
    try:
        return float(text)
    except ValueError:
        pass
    for candidate in (text.replace("Z", "+00:00"), text + "T00:00:00+00:00"):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.astimezone()
        return parsed.timestamp()
    raise InvalidArgument(f"invalid filter 'until={value}'")


def created_time(text: str) -> float:
    """An image config's `created` (RFC 3339, Go writes nanoseconds)."""
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.strip()).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def _layer_sizes(store: ImageStore) -> dict[str, int]:
    with Session(store.engine) as s:
        return {rec.chain_id: rec.size for rec in s.exec(select(LayerRecord)).all()}


def prune(
    store: ImageStore, filters: dict[str, list[str]], in_use: list[str]
) -> tuple[removal.RemoveResult, int]:
    unknown = set(filters) - {"dangling", "label", "label!", "until"}
    if unknown:
        raise InvalidArgument(f"invalid filter '{sorted(unknown)[0]}'")
    dangling_only = [v.lower() for v in filters.get("dangling", ["true"])] not in (["false"], ["0"])
    cutoffs = [parse_until(v) for v in filters.get("until", [])]
    used = set(in_use)
    before = _layer_sizes(store)
    total = removal.RemoveResult()
    listing = list_images(store, {"dangling": ["true"]} if dangling_only else {}, all_=True)
    for view in listing.views:
        if view.id in used:
            continue
        if cutoffs and created_time(view.record.created) >= min(cutoffs):
            continue
        if not labels_match(view.labels, filters.get("label", [])):
            continue
        if any(labels_match(view.labels, [neg]) for neg in filters.get("label!", [])):
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
