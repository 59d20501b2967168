"""The classic builder's cache identity (cachekey.py) and --cache-from's
parent rule (builder/cache.valid_parent), table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from hangu_image.builder.cache import valid_parent
from hangu_image.cachekey import cache_identity, cache_key, cache_key_of


def test_unset_fields_do_not_change_the_key() -> None:
    base = {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV A=1"], "Env": ["A=1"], "Image": "sha256:p"}
    noisy = {**base, "User": "", "Labels": None, "Tty": False}
    assert cache_key(base) == cache_key(noisy)
    assert cache_identity(base) == cache_identity(dict(reversed(list(base.items()))))


@pytest.mark.parametrize(
    "change",
    [
        {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV A=2"]},
        {"Env": ["A=1", "B=2"]},
        {"Image": "sha256:other"},
        {"User": "1000"},
        {"Tty": True},
    ],
)
def test_any_set_field_changes_the_key(change: dict[str, Any]) -> None:
    base = {"Cmd": ["/bin/sh", "-c", "#(nop) ", "ENV A=1"], "Env": ["A=1"], "Image": "sha256:p"}
    assert cache_key(base) != cache_key({**base, **change})


def test_only_images_a_build_made_have_a_key() -> None:
    assert cache_key_of({"config": {"Cmd": ["sh"]}}) == ""
    built = {"container_config": {"Cmd": ["sh"]}}
    assert cache_key_of(built) == cache_key({"Cmd": ["sh"]})


def _image(history: list[str], layers: list[str]) -> dict[str, Any]:
    return {
        "history": [{"created_by": h} for h in history],
        "rootfs": {"type": "layers", "diff_ids": layers},
    }


@pytest.mark.parametrize(
    ("target", "parent", "valid"),
    [
        (_image(["a", "b"], ["l1", "l2"]), None, True),
        (_image([], []), None, False),
        (_image(["a", "b"], ["l1", "l2"]), _image([], []), True),
        (_image(["a", "b"], ["l1", "l2"]), _image(["a"], ["l1"]), True),
        (_image(["a", "b"], ["l1", "l2"]), _image(["x"], ["l1"]), False),
        (_image(["a", "b"], ["l1", "l2"]), _image(["a"], ["l9"]), False),
        (_image(["a"], ["l1"]), _image(["a"], ["l1"]), False),
        (_image(["a", "b"], ["l1"]), _image(["a"], ["l1", "l2"]), False),
    ],
)
def test_valid_parent(target: dict[str, Any], parent: dict[str, Any] | None, valid: bool) -> None:
    assert valid_parent(target, parent) is valid
