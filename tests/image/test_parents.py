"""Parent links through the image service's gRPC API, against what
dockerd 20.10 answers for the same chains (commit and the classic builder
make them): untagged parents hidden from a plain listing, `rmi` walking up
the chain of untagged parents, the dependent-child conflict, prune of
dangling heads and of everything, and history rows named along the chain.

The chains are loaded from docker-archives whose configs carry `parent`,
as a committed image's does; each test makes its own, with layers no other
test has, and looks only at its own images."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from hangu.image.v1 import image_pb2 as pb
from hangu.types.v1 import types_pb2 as tpb
from tests.support.busybox import (
    CREATED,
    Image,
    LayerBuilder,
    build_image,
    sha256,
    write_docker_archive,
)

pytestmark = pytest.mark.root


@dataclass
class Chain:
    """Images by name; `layer` is the chain id of the layer each one added."""

    images: dict[str, Image] = field(default_factory=dict)
    layer: dict[str, str] = field(default_factory=dict)
    token: str = ""  # suffix of every tag, value of the hgt.chain label

    def id(self, name: str) -> str:
        return self.images[name].id

    def short(self, name: str) -> str:
        return self.id(name).removeprefix("sha256:")[:12]


def _chain_ids(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    for diff in diff_ids:
        out.append(sha256(f"{out[-1]} {diff}".encode()) if out else diff)
    return out


def _load(stub: Any, image: Image, path: Path, tags: list[str]) -> None:
    write_docker_archive(image, path, tags)
    with open(path, "rb") as fh:
        data = fh.read()
    list(stub.Load(iter([pb.LoadRequest(quiet=True), pb.LoadRequest(data=data)])))


def make_chain(stub: Any, work: Path, spec: list[tuple[str, str | None, list[str], bool]]) -> Chain:
    """`spec`: (name, parent name, tags, adds a layer), parents first; each
    image is what committing a container of its parent would make."""
    chain = Chain()
    token = secrets.token_hex(4)
    for name, parent, tags, adds_layer in spec:
        base = chain.images[parent] if parent else None
        layers = list(base.layers) if base else []
        history = list(base.config["history"]) if base else []  # type: ignore[call-overload]
        step = f"{name} {token}"
        if base is None:
            # A root as pulled ones are: a layer, then a CMD of no layer.
            history = [{"created": CREATED, "created_by": step}]
            layers.append(LayerBuilder().file(name, step.encode() * 50).build())
            step = f"CMD {token}"
            adds_layer = False
        if adds_layer:
            layers.append(LayerBuilder().file(name, step.encode() * 50).build())
            history.append({"created": CREATED, "created_by": step})
        else:
            history.append({"created": CREATED, "created_by": step, "empty_layer": True})
        image = build_image(layers, extra_config={"Labels": {"hgt.chain": token}})
        image.config["history"] = history
        if base is not None:
            image.config["parent"] = base.id
        chain.images[name] = image
        chain.token = token
        if adds_layer or base is None:
            chain.layer[name] = _chain_ids(image.diff_ids)[-1]
        _load(stub, image, work / f"{token}-{name}.tar", [f"{t}-{token}" for t in tags])
    return chain


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


def _exists(stub: Any, image_id: str) -> bool:
    try:
        stub.Get(pb.GetImageRequest(reference=image_id))
    except grpc.RpcError as err:
        assert err.code() == grpc.StatusCode.NOT_FOUND
        return False
    return True


def _listed(stub: Any, chain: Chain, all_: bool, **filters: list[str]) -> list[str]:
    req = pb.ListImagesRequest(
        all=all_, filters={k: tpb.StringList(values=v) for k, v in filters.items()}
    )
    ours = {image.id: name for name, image in chain.images.items()}
    return sorted(ours[i.id] for i in stub.List(req).images if i.id in ours)


# ---------------------------------------------------------------- listing

# base (tagged) -> mid (untagged) -> top (tagged) -> leaf (untagged, no child).
LISTING_CHAIN = [
    ("base", None, ["hgt/base:1"], True),
    ("mid", "base", [], True),
    ("top", "mid", ["hgt/top:1"], True),
    ("leaf", "top", [], True),
]


@pytest.mark.parametrize(
    ("all_", "filters", "expected"),
    [
        (False, {}, ["base", "leaf", "top"]),
        (True, {}, ["base", "leaf", "mid", "top"]),
        (False, {"dangling": ["true"]}, ["leaf"]),
        (True, {"dangling": ["true"]}, ["leaf"]),
        (False, {"dangling": ["false"]}, ["base", "top"]),
        (True, {"dangling": ["false"]}, ["base", "top"]),
    ],
    ids=["plain", "all", "dangling", "all-dangling", "not-dangling", "all-not-dangling"],
)
def test_listing_hides_untagged_parents(
    grpc_stub: Any, work: Path, all_: bool, filters: dict[str, list[str]], expected: list[str]
) -> None:
    chain = make_chain(grpc_stub, work, LISTING_CHAIN)
    assert _listed(grpc_stub, chain, all_, **filters) == expected
    if all_:
        mid = next(
            i
            for i in grpc_stub.List(pb.ListImagesRequest(all=True)).images
            if i.id == chain.id("mid")
        )
        assert list(mid.repo_tags) == [] and list(mid.repo_digests) == []


# ---------------------------------------------------------------- rmi

# base (tagged) -> m1 (untagged) -> m2 (untagged, no layer of its own, as
# ENV or LABEL steps make) -> top (tagged).
WALK_CHAIN = [
    ("base", None, ["hgt/wbase:1"], True),
    ("m1", "base", [], True),
    ("m2", "m1", [], False),
    ("top", "m2", ["hgt/wtop:1"], True),
]


def _walk_setup(stub: Any, chain: Chain, work: Path, case: str) -> None:
    if case == "m1-used":
        stub.PrepareRootfs(pb.PrepareRootfsRequest(container_id="e1" * 32, image_id=chain.id("m1")))
    elif case == "m1-tagged":
        stub.Tag(pb.TagRequest(source=chain.id("m1"), target=f"hgt/wm1:{chain.token}"))
    elif case == "m1-other-child":
        sibling = build_image(chain.images["m1"].layers, extra_config={"Labels": {}})
        sibling.config["parent"] = chain.id("m1")
        chain.images["sibling"] = sibling
        _load(stub, sibling, work / "sibling.tar", [])


@pytest.mark.parametrize(
    ("case", "no_prune", "gone"),
    [
        ("plain", False, ["top", "m2", "m1"]),
        ("no-prune", True, ["top"]),
        ("m1-used", False, ["top", "m2"]),
        ("m1-tagged", False, ["top", "m2"]),
        ("m1-other-child", False, ["top", "m2"]),
    ],
)
def test_rmi_walks_up_untagged_parents(
    grpc_stub: Any, work: Path, case: str, no_prune: bool, gone: list[str]
) -> None:
    chain = make_chain(grpc_stub, work, WALK_CHAIN)
    _walk_setup(grpc_stub, chain, work, case)
    top_tag = f"hgt/wtop:1-{chain.token}"
    try:
        out = grpc_stub.Remove(pb.RemoveImageRequest(reference=top_tag, no_prune=no_prune))
    finally:
        if case == "m1-used":
            grpc_stub.RemoveRootfs(pb.RemoveRootfsRequest(container_id="e1" * 32))
    # dockerd's order: each image, then the layers it alone had, nearest first.
    expected: list[str] = []
    for name in gone:
        expected.append(chain.id(name))
        if name in chain.layer:
            expected.append(chain.layer[name])
    assert list(out.untagged) == [top_tag]
    assert list(out.deleted) == expected
    for name in chain.images:
        assert _exists(grpc_stub, chain.id(name)) == (name not in gone), name


def test_rmi_stops_at_parent_not_local(grpc_stub: Any, work: Path) -> None:
    chain = make_chain(grpc_stub, work, [("gone", None, [], True), ("kid", "gone", ["k"], True)])
    grpc_stub.Remove(pb.RemoveImageRequest(reference=chain.id("kid")[:19], no_prune=True))
    # Only now load the child again: its parent is not there any more.
    grpc_stub.Remove(pb.RemoveImageRequest(reference=chain.id("gone")))
    _load(grpc_stub, chain.images["kid"], work / "again.tar", ["hgt/again:1"])
    out = grpc_stub.Remove(pb.RemoveImageRequest(reference="hgt/again:1"))
    assert list(out.deleted) == [chain.id("kid"), chain.layer["kid"], chain.layer["gone"]]


CHILD_CONFLICT = (
    "conflict: unable to delete {} (cannot be forced) - image has dependent child images"
)


@pytest.mark.parametrize(
    ("tags", "reference", "force", "untagged"),
    [
        # As dockerd 20.10 answered each (409 or the list shown).
        ([], "short", False, None),
        ([], "short", True, None),
        ([], "full", False, None),
        (["hgt/p:1"], "short", False, None),
        (["hgt/p:1", "hgt/p:2"], "short", False, None),
        (["hgt/p:1", "hgt/p:2"], "short", True, None),
        (["hgt/p:1"], "hgt/p:1", False, ["hgt/p:1"]),
        (["hgt/p:1", "hgt/p:2"], "hgt/p:2", False, ["hgt/p:2"]),
    ],
)
def test_rmi_of_a_parent(
    grpc_stub: Any,
    work: Path,
    tags: list[str],
    reference: str,
    force: bool,
    untagged: list[str] | None,
) -> None:
    chain = make_chain(grpc_stub, work, [("p", None, [], True), ("c", "p", ["hgt/c:1"], True)])
    token = chain.token
    for t in tags:
        grpc_stub.Tag(pb.TagRequest(source=chain.id("p"), target=f"{t}{token}"))
    ref = {"short": chain.short("p"), "full": chain.id("p")}.get(reference, reference + token)
    request = pb.RemoveImageRequest(reference=ref, force=force)
    if untagged is None:
        with pytest.raises(grpc.RpcError) as err:
            grpc_stub.Remove(request)
        assert err.value.code() == grpc.StatusCode.ABORTED
        assert err.value.details() == CHILD_CONFLICT.format(chain.short("p"))
    else:
        out = grpc_stub.Remove(request)
        assert list(out.untagged) == [u + token for u in untagged] and list(out.deleted) == []
    assert _exists(grpc_stub, chain.id("p"))


# ---------------------------------------------------------------- prune


def _prune(stub: Any, chain: Chain, in_use: list[str] | None = None, **filters: list[str]) -> Any:
    filters.setdefault("label", [f"hgt.chain={chain.token}"])
    return stub.Prune(
        pb.PruneImagesRequest(
            filters={k: tpb.StringList(values=v) for k, v in filters.items()},
            in_use_image_ids=in_use or [],
        )
    )


def _size(stub: Any, chain: Chain, name: str) -> int:
    return int(stub.Get(pb.GetImageRequest(reference=chain.id(name))).size)


def test_prune_dangling_takes_untagged_parents(grpc_stub: Any, work: Path) -> None:
    chain = make_chain(
        grpc_stub,
        work,
        [
            ("base", None, ["hgt/pbase:1"], True),
            ("mid", "base", [], True),
            ("head", "mid", [], True),
            ("kept", "base", ["hgt/pkept:1"], True),
        ],
    )
    freed = _size(grpc_stub, chain, "head") - _size(grpc_stub, chain, "base")
    out = _prune(grpc_stub, chain)
    assert list(out.untagged) == []
    assert list(out.deleted) == [
        chain.id("head"),
        chain.layer["head"],
        chain.id("mid"),
        chain.layer["mid"],
    ]
    assert out.space_reclaimed == freed > 0
    assert [n for n in chain.images if _exists(grpc_stub, chain.id(n))] == ["base", "kept"]


def test_prune_all_children_first_and_in_use_kept(grpc_stub: Any, work: Path) -> None:
    # base is untouched (no label); p (tagged) -> k (tagged); a (untagged)
    # -> t (tagged); x (untagged, used by a container) -> y (tagged).
    chain = make_chain(
        grpc_stub,
        work,
        [
            ("base", None, ["hgt/abase:1"], True),
            ("p", "base", ["hgt/p:1"], True),
            ("k", "p", ["hgt/k:1"], True),
            ("a", "base", [], True),
            ("t", "a", ["hgt/t:1"], True),
            ("x", "base", [], True),
            ("y", "x", ["hgt/y:1"], True),
        ],
    )
    sizes = {n: _size(grpc_stub, chain, n) for n in chain.images}
    out = _prune(grpc_stub, chain, [chain.id("x")], dangling=["false"])
    # Children before parents, newest first among equals: y, t, k, then p
    # and base. x stays (in use), so base has a child left and is only
    # untagged, as dockerd does; a goes with t, its last child.
    assert list(out.untagged) == [f"hgt/{n}:1-{chain.token}" for n in ("y", "t", "k", "p", "abase")]
    gone = [("y", "x"), ("t", "a"), ("a", "base"), ("k", "p"), ("p", "base")]
    expected: list[str] = []
    for name, _ in gone:
        expected += [chain.id(name), chain.layer[name]]
    assert list(out.deleted) == expected
    assert out.space_reclaimed == sum(sizes[n] - sizes[parent] for n, parent in gone)
    assert [n for n in chain.images if _exists(grpc_stub, chain.id(n))] == ["base", "x"]
    # Without its container x is a dangling head; base follows it now.
    again = _prune(grpc_stub, chain, [], dangling=["false"])
    assert list(again.untagged) == []
    assert list(again.deleted) == [
        chain.id("x"),
        chain.layer["x"],
        chain.id("base"),
        chain.layer["base"],
    ]
    assert again.space_reclaimed == sizes["x"]


def test_prune_keeps_chain_under_a_used_head(grpc_stub: Any, work: Path) -> None:
    chain = make_chain(grpc_stub, work, [("b", None, [], True), ("h", "b", [], True)])
    assert _listed(grpc_stub, chain, False, dangling=["true"]) == ["h"]
    out = _prune(grpc_stub, chain, [chain.id("h")])
    assert list(out.deleted) == [] and out.space_reclaimed == 0
    assert _exists(grpc_stub, chain.id("b"))
    grpc_stub.PrepareRootfs(pb.PrepareRootfsRequest(container_id="e2" * 32, image_id=chain.id("b")))
    try:
        # The head goes; its parent has a container (a root filesystem).
        out = _prune(grpc_stub, chain)
        assert list(out.deleted) == [chain.id("h"), chain.layer["h"]]
    finally:
        grpc_stub.RemoveRootfs(pb.RemoveRootfsRequest(container_id="e2" * 32))
    assert _exists(grpc_stub, chain.id("b"))


# ---------------------------------------------------------------- history


def test_history_names_rows_along_the_chain(grpc_stub: Any, work: Path) -> None:
    chain = make_chain(
        grpc_stub,
        work,
        [
            ("base", None, ["hgt/hbase:1"], True),
            ("m", "base", [], True),
            ("top", "m", ["hgt/htop:1"], False),
        ],
    )
    tok = chain.token
    rows = [
        (e.id, list(e.tags), e.created_by, e.size)
        for e in grpc_stub.History(pb.HistoryRequest(reference=f"hgt/htop:1-{tok}")).entries
    ]
    base_size = _size(grpc_stub, chain, "base")
    # One row per history entry; dockerd gives each image one row (commit
    # and each build step add one), so the base's older row is <missing>.
    assert rows == [
        (chain.id("top"), [f"hgt/htop:1-{tok}"], f"top {tok}", 0),
        (chain.id("m"), [], f"m {tok}", _size(grpc_stub, chain, "m") - base_size),
        (chain.id("base"), [f"hgt/hbase:1-{tok}"], f"CMD {tok}", 0),
        ("<missing>", [], f"base {tok}", base_size),
    ]
