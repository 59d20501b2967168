"""The classic builder's layer cache. Locally, a step is cached when an
image made by the same step exists: a child of the same parent whose
container_config (the step's identity: its command or `#(nop)` comment,
with the build args and, for COPY and ADD, the sources' checksum) is the
same; newest wins. With --cache-from, as dockerd's imageCache: a local hit
counts only inside the chain of a named image, and a named image's history
can stand in for the steps it shows (matched by their `created_by`), its
layers reused, without the image ever having been built here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

from hangu_runtime.errors import HanguError

from ..cachekey import cache_key, normalized
from ..images import ImageStore
from ..layers import chain_ids
from .imageconfig import created_by

# Core SQL, not the ORM: a probe per step, and the ORM's object machinery
# cost a millisecond of each.
_PROBE = text(
    "SELECT id, chain_ids_json FROM img_images WHERE parent = :parent AND cache_key = :key "
    "ORDER BY created DESC"
)


def probe_local(store: ImageStore, parent_id: str, key: str) -> str | None:
    """The image id of a cached step on `parent_id` ("" for scratch)."""
    with store.engine.connect() as conn:
        rows = conn.execute(_PROBE, {"parent": parent_id, "key": key}).all()
    for image_id, chain_json in rows:
        chain = json.loads(chain_json)
        # An image holds its layers; a layer folder gone is a store repaired.
        if not chain or store.layers.diff_dir(chain[-1]).is_dir():
            return str(image_id)
    return None


def _history(config: dict[str, Any]) -> list[dict[str, Any]]:
    return list(config.get("history") or [])


def _diff_ids(config: dict[str, Any]) -> list[str]:
    return list((config.get("rootfs") or {}).get("diff_ids") or [])


def valid_parent(target: dict[str, Any], parent: dict[str, Any] | None) -> bool:
    """moby's isValidParent: `parent`'s history and layers begin `target`'s."""
    history = _history(target)
    if not history:
        return False
    if parent is None or (not _history(parent) and not _diff_ids(parent)):
        return True
    ph, pd, td = _history(parent), _diff_ids(parent), _diff_ids(target)
    if len(ph) >= len(history) or len(pd) > len(td):
        return False
    return history[: len(ph)] == ph and td[: len(pd)] == pd


class BuildCache:
    def __init__(self, store: ImageStore, cache_from: Sequence[str]) -> None:
        self.store = store
        self.sources: list[tuple[str, dict[str, Any]]] = []
        for name in cache_from:
            try:
                view = store.cached_view(name)
            except HanguError:
                continue  # dockerd skips what it cannot find
            self.sources.append((view.id, view.config))

    def probe(self, parent_id: str, container_config: dict[str, Any]) -> str | None:
        local = probe_local(self.store, parent_id, cache_key(container_config))
        if not self.sources:
            return local
        if local is not None and any(self._in_chain(local, sid) for sid, _ in self.sources):
            return local
        parent = self.store.config_of(parent_id)[1] if parent_id else None
        depth = len(_history(parent)) if parent else 0
        wanted = created_by(container_config)
        for target_id, target in self.sources:
            history = _history(target)
            if len(history) <= depth or not valid_parent(target, parent):
                continue
            if history[depth].get("created_by", "") != wanted:
                continue
            if len(history) - 1 == depth:
                if parent_id:
                    self.store.set_parent(target_id, parent_id)
                return target_id
            restored = self._restore(parent_id, parent, target, container_config)
            # Stay on this image from now on, as dockerd does.
            self.sources = [(target_id, target)]
            return restored
        return None

    def _in_chain(self, image_id: str, top: str) -> bool:
        """Whether `image_id` is `top` or one of its parents."""
        seen: set[str] = set()
        current = top
        while current and current not in seen:
            if current == image_id:
                return True
            seen.add(current)
            rec = self.store.get_record(current)
            current = rec.parent if rec is not None else ""
        return False

    def _restore(
        self,
        parent_id: str,
        parent: dict[str, Any] | None,
        target: dict[str, Any],
        container_config: dict[str, Any],
    ) -> str:
        """An image for the step `target`'s history shows at this depth,
        on `parent`, its layer (if any) taken from `target`."""
        depth = len(_history(parent)) if parent else 0
        entry = _history(target)[depth]
        diff_ids = _diff_ids(parent) if parent else []
        if not entry.get("empty_layer"):
            diff_ids = diff_ids + [_diff_ids(target)[len(diff_ids)]]
        config: dict[str, Any] = {
            k: target[k] for k in ("architecture", "os", "variant") if k in target
        }
        config.update(
            {
                "author": target.get("author", ""),
                "config": normalized(container_config),
                "container_config": normalized(container_config),
                "created": entry.get("created", ""),
                "history": _history(target)[: depth + 1],
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
            }
        )
        if parent_id:
            config["parent"] = parent_id
        blob = json.dumps({k: v for k, v in config.items() if v != ""}, separators=(",", ":"))
        return self.store.register(blob.encode(), chain_ids(diff_ids)).id
