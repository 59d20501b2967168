"""The build cache's rules (hangu_image.buildcache) on a table of images,
without a store: which images are records, which are in use or shared,
what each would free, what a prune deletes and in which order, and the
filters with dockerd's wording for the refusals."""

from __future__ import annotations

import pytest

from hangu_image.buildcache import CacheRecord, Node, cache_records, prune_order
from hangu_runtime.errors import InvalidArgument

S = 1_000_000_000
NOW = 1_700_000_000 * S


def iid(name: str) -> str:
    return "sha256:" + (name.lower() * 64)[:64]


# name, parent, chain (layer names), tagged, built, used, age in seconds
TABLE = [
    ("base", "", ("l0",), True, False, False, 9000),  # pulled busybox
    ("a", "base", ("l0", "l1"), False, True, False, 800),  # RUN of the current build
    ("b", "a", ("l0", "l1"), False, True, False, 790),  # ENV: no layer
    ("c", "b", ("l0", "l1", "l2"), True, True, False, 780),  # the tagged result
    ("d", "b", ("l0", "l1", "l3"), False, True, False, 3000),  # old COPY
    ("e", "d", ("l0", "l1", "l3", "l4"), False, True, False, 2990),  # old result, untagged
    ("f", "base", ("l0", "l5"), False, True, True, 700),  # a container's image
    ("g", "f", ("l0", "l5", "l6"), False, True, False, 690),
    ("h", "base", ("l0", "l7"), False, True, False, 600),
    ("k", "h", ("l0", "l7", "l9"), False, False, False, 590),  # an untagged commit on h
    ("m", "base", ("l0", "l8"), False, True, False, 500),
    ("n", "", ("l0", "l8"), True, False, False, 400),  # a pulled image with m's layers
]
SIZES = {"l0": 1000, "l1": 11, "l2": 12, "l3": 13, "l4": 14, "l5": 15, "l6": 16, "l7": 17}
SIZES |= {"l8": 18, "l9": 19}


def nodes() -> dict[str, Node]:
    out = {}
    for name, parent, chain, tagged, built, used, age in TABLE:
        out[iid(name)] = Node(
            id=iid(name),
            parent=iid(parent) if parent else "",
            created_ns=NOW - age * S,
            created_by=f"/bin/sh -c step {name}",
            chain_ids=chain,
            tagged=tagged,
            built=built,
            used=used,
        )
    return out


def records() -> dict[str, CacheRecord]:
    found = cache_records(nodes(), SIZES)
    names = {iid(name): name for name, *_ in TABLE}
    return {names[r.id]: r for r in found}


def pruned(filters: dict[str, list[str]] | None = None, keep: int = 0) -> list[str]:
    graph = nodes()
    names = {iid(name): name for name, *_ in TABLE}
    order = prune_order(graph, cache_records(graph, SIZES), filters or {}, keep, NOW)
    return [names[r.id] for r in order]


# name: (in use, shared, size, parent record, usage count)
EXPECTED = {
    "a": (False, True, 0, None, 2),  # under the tagged c
    "b": (False, True, 0, "a", 3),  # no layer; under c
    "d": (False, False, 13, "b", 2),
    "e": (False, False, 14, "d", 1),
    "f": (True, False, 15, None, 2),  # in use, its layer its own
    "g": (False, False, 16, "f", 1),
    "h": (False, True, 0, None, 2),  # the commit k keeps it
    "m": (False, False, 0, None, 1),  # n has the same layer: nothing freed
}


def test_records_are_the_untagged_step_images() -> None:
    assert sorted(records()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_record_flags(name: str) -> None:
    r = records()[name]
    in_use, shared, size, parent, usage = EXPECTED[name]
    assert (r.in_use, r.shared, r.size, r.usage_count) == (in_use, shared, size, usage)
    assert r.parent == (iid(parent) if parent else "")
    assert r.image_parent == nodes()[iid(name)].parent
    assert r.description == f"/bin/sh -c step {name}"


def test_last_used_is_the_newest_build_on_it() -> None:
    r = records()
    assert r["e"].last_used_ns == r["e"].created_ns == NOW - 2990 * S
    assert r["d"].last_used_ns == NOW - 2990 * S
    assert r["b"].last_used_ns == NOW - 780 * S  # c was built on it


def test_default_prune_children_first_oldest_first() -> None:
    order = pruned()
    assert sorted(order) == ["d", "e", "g", "m"]
    assert order.index("e") < order.index("d")
    assert order == ["e", "d", "g", "m"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": ["regular"]}, ["e", "d", "g", "m"]),
        ({"type": ["internal"]}, []),
        ({"private": []}, ["e", "d", "g", "m"]),
        ({"private": ["true"]}, ["e", "d", "g", "m"]),
        ({"private": ["false"]}, []),
        ({"shared": []}, []),
        ({"inuse": []}, []),
        ({"inuse": ["false"]}, ["e", "d", "g", "m"]),
        # a parent cannot go without its children
        ({"id": ["^" + "d" * 12]}, []),
        ({"id": ["^" + "e" * 12]}, ["e"]),
        ({"id": ["^[deg]"]}, ["e", "d", "g"]),
        ({"parent": [iid("d")]}, ["e"]),
        ({"parent": ["d" * 64]}, ["e"]),
        ({"parent": [iid("base")]}, ["m"]),  # g's parent is f, h is shared
        ({"description": ["/bin/sh -c step g"]}, ["g"]),
        ({"description": ["step g"]}, []),
        ({"until": ["1h"]}, []),  # all used within the hour
        ({"until": ["45m"]}, ["e", "d"]),  # last used 2990 s ago
        ({"unused-for": ["45m"]}, ["e", "d"]),
        ({"until": ["10m"]}, ["e", "d", "g"]),  # m was made 500 s ago
        ({"until": [str(NOW // S - 2995)]}, []),
    ],
)
def test_prune_filters(filters: dict[str, list[str]], expected: list[str]) -> None:
    assert pruned(filters) == expected


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"foo": ["bar"]}, "failed to prune build cache: invalid filter 'foo'"),
        ({"dangling": ["true"]}, "failed to prune build cache: invalid filter 'dangling'"),
        ({"id": ["a", "b"]}, "failed to prune build cache: filters expect only one value"),
        ({"until": ["1h", "2h"]}, "failed to prune build cache: filters expect only one value"),
        (
            {"until": ["1h"], "unused-for": ["1h"]},
            'failed to prune build cache: conflicting filters: "until" and "unused-for"',
        ),
        (
            {"until": ["bogus"]},
            "failed to prune build cache: \"until\" filter expects a duration (e.g., '24h'): ",
        ),
        ({"inuse": ["maybe"]}, "failed to prune build cache: invalid filter 'inuse=maybe'"),
        ({"id": ["("]}, "failed to prune build cache: invalid filter 'id=('"),
    ],
)
def test_prune_refusals(filters: dict[str, list[str]], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        pruned(filters)
    assert err.value.message.startswith(message)


def test_keep_storage_stops_when_what_is_left_fits() -> None:
    total = sum(r.size for r in records().values())  # d e f g m: 13+14+15+16+0
    assert total == 58
    assert pruned(keep=58) == []
    assert pruned(keep=57) == ["e"]  # 44 left
    assert pruned(keep=44) == ["e"]
    assert pruned(keep=43) == ["e", "d"]
    assert pruned(keep=16) == ["e", "d", "g"]  # 15 left: f, in use, stays whatever the goal
    assert pruned(keep=1) == ["e", "d", "g", "m"]
    assert pruned(keep=0) == ["e", "d", "g", "m"]
