"""Chains of images linked by parent, made by `docker run` + `docker commit`
(as the classic builder makes them), through the real docker CLI and
docker-py: what dockerd 20.10 printed for the same chains. Untagged parents
are hidden from `docker images` without -a and are not dangling; `docker
rmi` of the last child takes its untagged parents along (not with
--no-prune, not past a tag or a container); a parent with children cannot
be deleted; `docker image prune` takes the parents of what it deletes; the
history rows carry the ids of the local parents.

Every image here carries a label of its own (set on the first commit,
inherited by the rest), and each prune filters on it: the session's other
images are never touched."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from collections.abc import Iterator

import pytest

from tests.support.stack import Stack


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (result.stdout, result.stderr)
    return str(result.stdout)


def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


class Chains:
    """Commits on top of busybox (or of an earlier commit), each adding one
    file of `size` random bytes, all labelled hgt.parents=<token>."""

    def __init__(self, stack: Stack, base: str) -> None:
        self.stack = stack
        self.base = base
        self.token = secrets.token_hex(4)
        self.label = f"hgt.parents={self.token}"

    def tag(self, name: str) -> str:
        return f"hgt/par-{self.token}:{name}"

    def commit(self, parent: str | None, name: str, tag: bool, size: int = 3000) -> str:
        container = f"hgt-par-{self.token}-{name}"
        _ok(
            self.stack.run_docker(
                "run",
                "--name",
                container,
                parent or self.base,
                "sh",
                "-c",
                f"head -c {size} /dev/urandom > /{name}",
            )
        )
        try:
            args = ["commit"]
            if parent is None:
                args += ["--change", f"LABEL hgt.parents={self.token}"]
            args += [container] + ([self.tag(name)] if tag else [])
            return _ok(self.stack.run_docker(*args)).strip()
        finally:
            _ok(self.stack.run_docker("rm", container))

    def top_layer(self, ref: str) -> str:
        """The chain id of the image's top layer (what rmi reports deleted)."""
        raw = _ok(self.stack.run_docker("image", "inspect", "--format", "{{json .RootFS}}", ref))
        chain = ""
        for diff in json.loads(raw)["Layers"]:
            chain = diff if not chain else "sha256:" + _sha(f"{chain} {diff}")
        return chain

    def ids(self, *args: str) -> list[str]:
        out = _ok(self.stack.run_docker("images", "-q", "--no-trunc", *args))
        return out.split()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture
def chains(stack: Stack, busybox: str) -> Iterator[Chains]:
    made = Chains(stack, busybox)
    yield made
    # Whatever a failed test left: children first (the newest first).
    for image_id in made.ids("-a", "--filter", f"label={made.label}"):
        stack.run_docker("rmi", "-f", image_id)


def test_untagged_parent_listed_only_with_all(chains: Chains) -> None:
    a = chains.commit(None, "a", tag=False)
    b = chains.commit(a, "b", tag=True)
    mine = ["--filter", f"label={chains.label}"]
    assert chains.ids(*mine) == [b]
    assert sorted(chains.ids("-a", *mine)) == sorted([a, b])
    assert chains.ids("--filter", "dangling=true", *mine) == []
    assert chains.ids("-a", "--filter", "dangling=true", *mine) == []
    table = _ok(
        chains.stack.run_docker(
            "images", "-a", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", *mine
        )
    )
    assert sorted(table.splitlines()) == sorted(
        [f"<none>:<none> {_short(a)}", f"{chains.tag('b')} {_short(b)}"]
    )
    client = chains.stack.docker_client()
    try:
        assert [i.id for i in client.images.list(filters={"label": chains.label})] == [b]
    finally:
        client.close()


def test_rmi_takes_untagged_parents(chains: Chains, busybox: str) -> None:
    a = chains.commit(None, "a", tag=False)
    b = chains.commit(a, "b", tag=False)
    c = chains.commit(b, "c", tag=True)
    layers = {n: chains.top_layer(i) for n, i in (("a", a), ("b", b), ("c", c))}
    out = _ok(chains.stack.run_docker("rmi", chains.tag("c")))
    assert out.splitlines() == [
        f"Untagged: {chains.tag('c')}",
        f"Deleted: {c}",
        f"Deleted: {layers['c']}",
        f"Deleted: {b}",
        f"Deleted: {layers['b']}",
        f"Deleted: {a}",
        f"Deleted: {layers['a']}",
    ]
    assert chains.ids("-a", "--filter", f"label={chains.label}") == []
    # busybox is tagged: the walk stops there.
    assert _ok(chains.stack.run_docker("image", "inspect", "--format", "{{.Id}}", busybox))


def test_rmi_no_prune_and_a_container_stop_the_walk(chains: Chains) -> None:
    a = chains.commit(None, "a", tag=False)
    b = chains.commit(a, "b", tag=True)
    layer_a, layer_b = chains.top_layer(a), chains.top_layer(b)
    mine = ["--filter", f"label={chains.label}"]
    out = _ok(chains.stack.run_docker("rmi", "--no-prune", chains.tag("b")))
    assert out.splitlines() == [
        f"Untagged: {chains.tag('b')}",
        f"Deleted: {b}",
        f"Deleted: {layer_b}",
    ]
    # a is childless now: a dangling image.
    assert chains.ids("--filter", "dangling=true", *mine) == [a]

    b = chains.commit(a, "b", tag=True)
    layer_b = chains.top_layer(b)
    cid = _ok(chains.stack.run_docker("create", a, "true")).strip()
    try:
        out = _ok(chains.stack.run_docker("rmi", chains.tag("b")))
        # a has a container: the walk ends before it, without an error.
        assert out.splitlines() == [
            f"Untagged: {chains.tag('b')}",
            f"Deleted: {b}",
            f"Deleted: {layer_b}",
        ]
        assert chains.ids("-a", *mine) == [a]
    finally:
        _ok(chains.stack.run_docker("rm", cid))
    out = _ok(chains.stack.run_docker("rmi", _short(a)))
    assert out.splitlines() == [f"Deleted: {a}", f"Deleted: {layer_a}"]


def test_rmi_of_a_parent_with_children(chains: Chains) -> None:
    a = chains.commit(None, "a", tag=False)
    chains.commit(a, "b", tag=True)
    conflict = (
        f"Error response from daemon: conflict: unable to delete {_short(a)} "
        "(cannot be forced) - image has dependent child images"
    )
    for args in (["rmi", _short(a)], ["rmi", "-f", _short(a)], ["rmi", a]):
        refused = chains.stack.run_docker(*args)
        assert (refused.returncode, refused.stderr.strip()) == (1, conflict), args
    # By id with one tag: the same; by that tag: only untagged.
    _ok(chains.stack.run_docker("tag", a, chains.tag("a")))
    refused = chains.stack.run_docker("rmi", _short(a))
    assert refused.stderr.strip() == conflict
    client = chains.stack.docker_client()
    try:
        import docker

        with pytest.raises(docker.errors.APIError) as err:
            client.api.remove_image(a)
        assert err.value.status_code == 409
        assert err.value.explanation == conflict.removeprefix("Error response from daemon: ")
    finally:
        client.close()
    assert _ok(chains.stack.run_docker("rmi", chains.tag("a"))) == f"Untagged: {chains.tag('a')}\n"
    assert a in chains.ids("-a") and a not in chains.ids()


def test_prune_dangling_takes_untagged_parents(chains: Chains) -> None:
    a = chains.commit(None, "a", tag=False, size=3000)
    b = chains.commit(a, "b", tag=False, size=5000)
    layer_a, layer_b = chains.top_layer(a), chains.top_layer(b)
    out = _ok(chains.stack.run_docker("image", "prune", "-f", "--filter", f"label={chains.label}"))
    # As dockerd: the head, then its parent, each with its layer; 8000 bytes.
    assert out.splitlines() == [
        "Deleted Images:",
        f"deleted: {b}",
        f"deleted: {layer_b}",
        f"deleted: {a}",
        f"deleted: {layer_a}",
        "",
        "Total reclaimed space: 8kB",
    ]


def test_prune_all_children_first_keeps_what_a_container_uses(chains: Chains) -> None:
    p = chains.commit(None, "p", tag=True, size=1000)
    k = chains.commit(p, "k", tag=True, size=2000)
    x = chains.commit(p, "x", tag=False, size=3000)
    y = chains.commit(x, "y", tag=True, size=4000)
    layers = {n: chains.top_layer(i) for n, i in (("p", p), ("k", k), ("x", x), ("y", y))}
    cid = _ok(chains.stack.run_docker("create", x, "true")).strip()
    mine = ["--filter", f"label={chains.label}"]
    try:
        out = _ok(chains.stack.run_docker("image", "prune", "-a", "-f", *mine))
        # y, k (newest first), then p: untagged only, x (kept) is its child.
        # The gateway gets untagged and deleted as two lists, so the lines
        # are compared kind by kind (dockerd interleaves them per image).
        assert _prune_lines(out) == (
            [chains.tag("y"), chains.tag("k"), chains.tag("p")],
            [y, layers["y"], k, layers["k"]],
            "Total reclaimed space: 6kB",
        )
        assert sorted(chains.ids("-a", *mine)) == sorted([p, x])
        again = _ok(chains.stack.run_docker("image", "prune", "-a", "-f", *mine))
        assert again == "Total reclaimed space: 0B\n"
    finally:
        _ok(chains.stack.run_docker("rm", cid))
    out = _ok(chains.stack.run_docker("image", "prune", "-a", "-f", *mine))
    assert out.splitlines() == [
        "Deleted Images:",
        f"deleted: {x}",
        f"deleted: {layers['x']}",
        f"deleted: {p}",
        f"deleted: {layers['p']}",
        "",
        "Total reclaimed space: 4kB",
    ]


def _prune_lines(out: str) -> tuple[list[str], list[str], str]:
    """`docker image prune` output as (untagged, deleted, total line)."""
    lines = out.splitlines()
    untagged = [line.removeprefix("untagged: ") for line in lines if line.startswith("untagged: ")]
    deleted = [line.removeprefix("deleted: ") for line in lines if line.startswith("deleted: ")]
    return untagged, deleted, lines[-1]


def test_history_shows_the_local_parents(chains: Chains, busybox: str) -> None:
    a = chains.commit(None, "a", tag=False)
    b = chains.commit(a, "b", tag=True)
    base = _ok(chains.stack.run_docker("image", "inspect", "--format", "{{.Id}}", busybox)).strip()
    rows = _ok(
        chains.stack.run_docker(
            "history", "--no-trunc", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}", chains.tag("b")
        )
    ).splitlines()
    assert rows == [
        f"{b}|sh -c head -c 3000 /dev/urandom > /b|3kB",
        f"{a}|sh -c head -c 3000 /dev/urandom > /a|3kB",
        f"{base}|hangu test layer 0|1.98MB",
    ]
    client = chains.stack.docker_client()
    try:
        hist = client.api.history(chains.tag("b"))
    finally:
        client.close()
    assert [(h["Id"], h["Tags"]) for h in hist[:2]] == [(b, [chains.tag("b")]), (a, None)]
    assert hist[2]["Id"] == base and busybox + ":latest" in hist[2]["Tags"]
    _ok(chains.stack.run_docker("rmi", chains.tag("b")))
