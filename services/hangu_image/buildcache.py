"""The build cache as Docker clients see it (`docker system df`'s Build
Cache, `docker builder prune`), over the classic builder's cache, which is
images (builder/cache.py).

A record is an image a build step made (its config has `container_config`
and it has a parent) that no tag names. For each:

- InUse: a container's image is it;
- Shared: one of its descendants stays when the build cache goes (an image
  that is no record, i.e. tagged or not made by a build, or a record in
  use), so its layers stay too; a record that is an ancestor of a tagged
  image is always shared;
- Size: what deleting it frees: the layer it added when it is not shared
  and no image outside its own descendants has that layer; 0 otherwise
  (and for the steps that add no layer);
- LastUsedAt: the newest creation among it and its descendants (building a
  step on it used it); UsageCount: 1 and one per image built on it. Cache
  hits that made no image leave no trace in the image records.

Prune deletes records neither in use nor shared, children before parents,
least recently used first, as image deletions (removal.py: events, layers
collected). A filter that picks a record but not all of its descendants
keeps it: a parent cannot go before its children. `all` adds nothing: what
the default leaves is in use or shared, and a shared record is an ancestor
of an image that stays (deleting it would break that image's parent chain
and free nothing). `keep_storage` stops the deletions once the records'
total size is at most that many bytes.

Filters are the ones dockerd hands to BuildKit, with its wording: until
(or the older unused-for), id (a regular expression on the id), parent,
type, description, inuse, shared, private; one value each."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, select

from hangu_runtime.errors import Conflict, InvalidArgument, NotFound
from hangu_runtime.filters import Args, parse_go_bool, prune_until

from . import removal
from .images import ImageStore
from .listing import created_ns
from .models import ImageRecord, LayerRecord, RefRecord

RECORD_TYPE = "regular"
PREFIX = "failed to prune build cache: "
FILTERS = frozenset(
    {"until", "unused-for", "id", "parent", "type", "description", "inuse", "shared", "private"}
)


@dataclass(frozen=True)
class Node:
    """What the cache needs of one local image."""

    id: str
    parent: str = ""
    created_ns: int | None = None
    created_by: str = ""
    chain_ids: tuple[str, ...] = ()
    tagged: bool = False
    built: bool = False  # its config has container_config
    used: bool = False  # a container's image

    @property
    def is_record(self) -> bool:
        return self.built and not self.tagged and bool(self.parent)


@dataclass
class CacheRecord:
    id: str  # the image id, sha256:<hex>
    parent: str  # the parent's id when the parent is a record, else ""
    image_parent: str  # the parent image's id, record or not
    description: str
    in_use: bool
    shared: bool
    size: int
    created_ns: int | None
    last_used_ns: int | None
    usage_count: int
    depth: int = 0  # local ancestors: deeper ones are deleted first

    @property
    def hex_id(self) -> str:
        return self.id.removeprefix("sha256:")


@dataclass
class PruneResult:
    deleted: list[str] = field(default_factory=list)  # image ids, in deletion order
    reclaimed: int = 0


# ------------------------------------------------------------ pure rules
def _children(nodes: Mapping[str, Node]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {image_id: [] for image_id in nodes}
    for node in nodes.values():
        if node.parent in out:
            out[node.parent].append(node.id)
    return out


def _descendants(image_id: str, children: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(children.get(image_id, []))
    while stack:
        child = stack.pop()
        if child not in seen:
            seen.add(child)
            stack.extend(children.get(child, []))
    return seen


def _depth(node: Node, nodes: Mapping[str, Node]) -> int:
    depth, seen = 0, {node.id}
    parent = node.parent
    while parent in nodes and parent not in seen:
        seen.add(parent)
        depth += 1
        parent = nodes[parent].parent
    return depth


def _own_layer(node: Node, nodes: Mapping[str, Node]) -> str | None:
    """The chain id of the layer the step added; None for a step without one."""
    if not node.chain_ids:
        return None
    parent = nodes.get(node.parent)
    if parent is not None and len(parent.chain_ids) >= len(node.chain_ids):
        return None
    return node.chain_ids[-1]


def cache_records(nodes: Mapping[str, Node], layer_sizes: Mapping[str, int]) -> list[CacheRecord]:
    """Every record, oldest first (then by id)."""
    children = _children(nodes)
    users: dict[str, set[str]] = {}
    for node in nodes.values():
        for cid in node.chain_ids:
            users.setdefault(cid, set()).add(node.id)
    out = []
    for node in nodes.values():
        if not node.is_record:
            continue
        below = _descendants(node.id, children)
        shared = any(not nodes[d].is_record or nodes[d].used for d in below)
        own = _own_layer(node, nodes)
        size = 0
        if not shared and own is not None and users.get(own, set()) <= below | {node.id}:
            size = layer_sizes.get(own, 0)
        times = [t for t in [node.created_ns, *(nodes[d].created_ns for d in below)] if t]
        parent = nodes.get(node.parent)
        out.append(
            CacheRecord(
                id=node.id,
                parent=node.parent if parent is not None and parent.is_record else "",
                image_parent=node.parent,
                description=node.created_by,
                in_use=node.used,
                shared=shared,
                size=size,
                created_ns=node.created_ns,
                last_used_ns=max(times) if times else None,
                usage_count=1 + len(children[node.id]),
                depth=_depth(node, nodes),
            )
        )
    out.sort(key=lambda r: (r.created_ns or 0, r.id))
    return out


def _one_value(args: Args, key: str) -> str | None:
    """A filter's single value; "" for a bare key, None without the key."""
    if not args.contains(key):
        return None
    values = args.get(key)
    if len(values) > 1:
        raise InvalidArgument(PREFIX + "filters expect only one value")
    return values[0] if values else ""


def _flag(args: Args, key: str) -> bool | None:
    """inuse/shared/private: a bare key or a true value selects the records
    with the property, a false value the others."""
    value = _one_value(args, key)
    if value is None:
        return None
    if value == "":
        return True
    try:
        return parse_go_bool(value)
    except ValueError:
        raise InvalidArgument(f"{PREFIX}invalid filter '{key}={value}'") from None


def _id_matches(pattern: str, record: CacheRecord) -> bool:
    try:
        return re.search(pattern, record.hex_id) is not None
    except re.error as err:
        raise InvalidArgument(f"{PREFIX}invalid filter 'id={pattern}': {err}") from None


def _bare(image_id: str) -> str:
    return image_id.removeprefix("sha256:")


@dataclass
class _Selector:
    """A prune's filters, checked once, then applied to each record."""

    until: int | None = None
    id: str | None = None
    parent: str | None = None
    type: str | None = None
    description: str | None = None
    flags: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def parse(cls, filters: Mapping[str, Sequence[str]], now_ns: int | None) -> _Selector:
        args = Args(filters)
        try:
            args.validate(FILTERS)
        except InvalidArgument as err:
            raise InvalidArgument(PREFIX + err.message) from None
        if args.contains("until") and args.contains("unused-for"):
            raise InvalidArgument(PREFIX + 'conflicting filters: "until" and "unused-for"')
        key = "unused-for" if args.contains("unused-for") else "until"
        until = None
        if _one_value(args, key) is not None:
            until = prune_until(
                Args({"until": args.get(key)}),
                now_ns,
                prefix=f"{PREFIX}\"{key}\" filter expects a duration (e.g., '24h'): ",
            )
        flags = {}
        for name in ("inuse", "shared", "private"):
            value = _flag(args, name)
            if value is not None:
                flags[name] = value
        return cls(
            until=until,
            id=_one_value(args, "id"),
            parent=_one_value(args, "parent"),
            type=_one_value(args, "type"),
            description=_one_value(args, "description"),
            flags=flags,
        )

    def matches(self, record: CacheRecord) -> bool:
        if self.until is not None and (record.last_used_ns or 0) > self.until:
            return False
        if self.id is not None and not _id_matches(self.id, record):
            return False
        if self.parent is not None and _bare(self.parent) != _bare(record.image_parent):
            return False
        if self.type is not None and self.type != RECORD_TYPE:
            return False
        if self.description is not None and self.description != record.description:
            return False
        have = {"inuse": record.in_use, "shared": record.shared, "private": not record.shared}
        return all(have[name] == wanted for name, wanted in self.flags.items())


def prune_order(
    nodes: Mapping[str, Node],
    records: Sequence[CacheRecord],
    filters: Mapping[str, Sequence[str]],
    keep_storage: int = 0,
    now_ns: int | None = None,
) -> list[CacheRecord]:
    """The records a prune deletes, in the order it deletes them."""
    selector = _Selector.parse(filters, now_ns)
    picked = {r.id: r for r in records if not r.in_use and not r.shared and selector.matches(r)}
    children = _children(nodes)
    changed = True
    while changed:  # a record stays when one of its children does
        changed = False
        for image_id in list(picked):
            if any(child not in picked for child in children[image_id]):
                del picked[image_id]
                changed = True
    left = sum(r.size for r in records)
    order: list[CacheRecord] = []
    gone: set[str] = set()
    while picked:
        if keep_storage > 0 and left <= keep_storage:
            break
        ready = [r for r in picked.values() if all(c in gone for c in children[r.id])]
        nxt = min(ready, key=lambda r: (r.last_used_ns or 0, -r.depth, r.id))
        order.append(nxt)
        gone.add(nxt.id)
        del picked[nxt.id]
        left -= nxt.size
    return order


# ------------------------------------------------------------ the store
def nodes_of(store: ImageStore, in_use: Collection[str]) -> dict[str, Node]:
    """Every local image as a Node; `in_use`: the ids of containers' images
    as the caller knows them, on top of the root filesystems on record."""
    with Session(store.engine) as s:
        images = list(s.exec(select(ImageRecord)).all())
        tagged = set(s.exec(select(RefRecord.image_id)).all())
    used = set(in_use)
    out = {}
    for rec in images:
        try:
            _, config = store.config_of(rec.id)
        except (NotFound, OSError, ValueError):
            config = {}
        history = config.get("history") or []
        last = history[-1] if history and isinstance(history[-1], dict) else {}
        out[rec.id] = Node(
            id=rec.id,
            parent=rec.parent,
            created_ns=created_ns(rec.created),
            created_by=str(last.get("created_by") or ""),
            chain_ids=tuple(rec.chain_ids),
            tagged=rec.id in tagged,
            built=isinstance(config.get("container_config"), dict),
            used=rec.id in used or bool(store.containers_on(rec.id)),
        )
    return out


def _layer_sizes(store: ImageStore) -> dict[str, int]:
    with Session(store.engine) as s:
        return {rec.chain_id: rec.size for rec in s.exec(select(LayerRecord)).all()}


def usage(store: ImageStore, in_use: Collection[str]) -> list[CacheRecord]:
    return cache_records(nodes_of(store, in_use), _layer_sizes(store))


def prune(
    store: ImageStore,
    filters: Mapping[str, Sequence[str]],
    in_use: Collection[str],
    keep_storage: int = 0,
    now_ns: int | None = None,
) -> PruneResult:
    nodes = nodes_of(store, in_use)
    before = _layer_sizes(store)
    order = prune_order(nodes, cache_records(nodes, before), filters, keep_storage, now_ns)
    result = PruneResult()
    used = {n.id for n in nodes.values() if n.used}
    for record in order:
        try:
            removal.remove(store, record.id, in_use=used, prune=False)
        except (Conflict, NotFound):
            continue  # changed since it was read: it stays, and so do its parents
        result.deleted.append(record.id)
    after = _layer_sizes(store)
    result.reclaimed = sum(size for cid, size in before.items() if cid not in after)
    return result
