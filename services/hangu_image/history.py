"""`docker history`: one row per history entry of the image config, newest
first, with the size of the layer each non-empty entry made; then, as
dockerd does, the rows are given image ids (and tags) walking the chain of
local parents from the image down (commit records a parent), "<missing>"
where the chain ends."""

from __future__ import annotations

from dataclasses import dataclass

from hangu_runtime.errors import NotFound

from .images import ImageStore, ImageView


@dataclass
class HistoryItem:
    id: str
    created: str
    created_by: str
    tags: list[str]
    size: int
    comment: str


def history(store: ImageStore, view: ImageView) -> list[HistoryItem]:
    sizes = iter(view.layer_sizes)
    items: list[HistoryItem] = []
    for entry in view.config.get("history") or []:
        size = 0 if entry.get("empty_layer") else next(sizes, 0)
        items.append(
            HistoryItem(
                "<missing>",
                str(entry.get("created") or ""),
                str(entry.get("created_by") or ""),
                [],
                size,
                str(entry.get("comment") or ""),
            )
        )
    if not items:
        items.append(HistoryItem("<missing>", view.record.created, "", [], view.record.size, ""))
    items.reverse()
    current: ImageView | None = view
    for item in items:
        if current is None:
            break
        item.id = current.id
        item.tags = list(current.repo_tags)
        parent = current.record.parent
        try:
            current = store.view(store.resolve(parent)) if parent else None
        except NotFound:
            current = None
    return items
