"""Tag and remove, with dockerd's rules (daemon/images/image_delete.go):
a name is untagged first; the image is deleted when no name is left; a
container using the image turns that into a conflict unless forced (a
running one even when forced); an image with children cannot be deleted
at all. Once deleted, its parents go too, nearest first, as long as each
is untagged, childless and used by no container (unless no_prune)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

from sqlmodel import Session

from hangu_runtime.errors import Conflict, InvalidArgument
from hangu_runtime.ids import short_id

from .images import ImageStore, is_id_prefix
from .models import ImageRecord, RefRecord
from .reference import IDENTIFIER_RE, Reference, parse


@dataclass
class RemoveResult:
    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def tag(store: ImageStore, source: str, target: str) -> Reference:
    rec = store.resolve(source)
    if IDENTIFIER_RE.match(target):
        raise InvalidArgument(
            f"invalid repository name ({target}), cannot specify 64-byte hexadecimal strings"
        )
    ref = parse(target)
    if ref.digest:
        raise InvalidArgument("refusing to create a tag with a digest reference")
    ref = ref.with_default_tag()
    store.set_ref(ref, rec.id)
    store.events.emit("tag", rec.id, name=ref.familiar)
    return ref


def _is_single_reference(refs: list[RefRecord]) -> bool:
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    canonical: set[str] = set()
    for r in refs:
        parsed = parse(r.name)
        if r.is_digest:
            canonical.add(parsed.name)
        elif single is None:
            single = parsed
        else:
            return False
    if single is None:
        single = parse(refs[0].name)
    return len(canonical) == 1 and single.name in canonical


def _conflict(
    store: ImageStore,
    rec: ImageRecord,
    used: list[str],
    running: list[str],
    soft: bool,
    active_reference: bool,
) -> Conflict | None:
    """dockerd's checkImageDeleteConflict; `soft` adds the forceable kinds."""
    sid = short_id(rec.id)
    if store.has_children(rec.id):
        return Conflict(
            f"conflict: unable to delete {sid} (cannot be forced) - image has "
            f"dependent child images"
        )
    if running:
        return Conflict(
            f"conflict: unable to delete {sid} (cannot be forced) - image is "
            f"being used by running container {short_id(running[0])}"
        )
    if soft and active_reference and store.refs_of(rec.id):
        return Conflict(
            f"conflict: unable to delete {sid} (must be forced) - image is "
            f"referenced in multiple repositories"
        )
    stopped = [c for c in used if c not in running]
    if soft and stopped:
        return Conflict(
            f"conflict: unable to delete {sid} (must be forced) - image is "
            f"being used by stopped container {short_id(stopped[0])}"
        )
    return None


def remove(
    store: ImageStore,
    text: str,
    force: bool = False,
    used_by: list[str] | None = None,
    running: list[str] | None = None,
    prune: bool = True,
    in_use: Collection[str] = (),
) -> RemoveResult:
    """`used_by`/`running`: the containers on the image named; `in_use`:
    image ids the caller knows containers use (prune passes them all), on
    top of what the root filesystems tell, for the walk up the parents."""
    used = list(used_by or [])
    running = list(running or [])
    used.extend(c for c in running if c not in used)
    rec = store.resolve(text)
    result = RemoveResult()
    refs = store.refs_of(rec.id)
    removed_repo_ref = False
    if not is_id_prefix(rec.id, text):
        if not force and _is_single_reference(refs) and used:
            raise Conflict(
                f'conflict: unable to remove repository reference "{text}" (must force) - '
                f"container {short_id(used[0])} is using its referenced image {short_id(rec.id)}"
            )
        parsed = parse(text)
        parsed = parsed if parsed.digest else parsed.with_default_tag()
        name = str(parsed.with_digest(parsed.digest)) if parsed.digest else str(parsed)
        if not store.delete_ref(name):
            # Resolved through the manifest digest rather than a stored name.
            return _delete(store, rec, force, used, running, result, False, prune, in_use)
        result.untagged.append(parsed.familiar)
        store.events.emit("untag", rec.id, name=rec.id)
        refs = store.refs_of(rec.id)
        if not parsed.digest and not any(
            not r.is_digest and parse(r.name).name == parsed.name for r in refs
        ):
            # The last tag of that repository is gone: drop its digest names too.
            remaining = []
            for r in refs:
                if r.is_digest and parse(r.name).name == parsed.name:
                    store.delete_ref(r.name)
                    result.untagged.append(parse(r.name).familiar)
                else:
                    remaining.append(r)
            refs = remaining
        if refs:
            return result
        removed_repo_ref = True
    elif _is_single_reference(refs):
        conflict = _conflict(store, rec, used, running, soft=not force, active_reference=False)
        if conflict is not None:
            raise conflict
        for r in refs:
            store.delete_ref(r.name)
            result.untagged.append(parse(r.name).familiar)
            store.events.emit("untag", rec.id, name=rec.id)
    return _delete(store, rec, force, used, running, result, removed_repo_ref, prune, in_use)


def _delete(
    store: ImageStore,
    rec: ImageRecord,
    force: bool,
    used: list[str],
    running: list[str],
    result: RemoveResult,
    quiet: bool,
    prune: bool,
    in_use: Collection[str],
) -> RemoveResult:
    """dockerd's imageDeleteHelper for the image asked for."""
    conflict = _conflict(store, rec, used, running, soft=not force, active_reference=True)
    if conflict is not None:
        if quiet and (store.refs_of(rec.id) or used or store.has_children(rec.id)):
            return result
        raise conflict
    for r in store.refs_of(rec.id):
        store.delete_ref(r.name)
        result.untagged.append(parse(r.name).familiar)
        store.events.emit("untag", rec.id, name=rec.id)
    _erase(store, rec, result)
    if prune:
        _prune_parents(store, rec.parent, result, in_use)
    return result


def _prune_parents(
    store: ImageStore, parent: str, result: RemoveResult, in_use: Collection[str]
) -> None:
    """dockerd's recursion on the parent, quiet and not forced: the first
    parent that must stay (a tag, another child, a container on it) ends
    the walk without an error, and so does a parent that is not local."""
    while parent:
        rec = store.get_record(parent)
        if (
            rec is None
            or rec.id in in_use
            or store.refs_of(rec.id)
            or store.has_children(rec.id)
            or store.containers_on(rec.id)
        ):
            return
        _erase(store, rec, result)
        parent = rec.parent


def _erase(store: ImageStore, rec: ImageRecord, result: RemoveResult) -> None:
    """Drop an image that nothing names any more, and the layers only it used."""
    with store.db_lock, Session(store.engine) as s:
        db_rec = s.get(ImageRecord, rec.id)
        if db_rec is not None:
            s.delete(db_rec)
            s.commit()
    store.invalidate()
    store.layers.add_refs(rec.chain_ids, -1)
    store.content.delete(rec.id)
    removed = store.layers.collect()
    store.events.emit("delete", rec.id, name=rec.id)
    result.deleted.append(rec.id)
    # dockerd lists the layers it deleted too (by chain id), top first.
    result.deleted += [cid for cid in reversed(rec.chain_ids) if cid in removed]
