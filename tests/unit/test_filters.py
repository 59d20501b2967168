"""Docker's filter rules (hangu_runtime.filters), checked against dockerd's
answers: moby's filters.Args (FromJSON, Validate, MatchKVList,
GetBoolOrDefault), the prune calls' matchLabels and until, and the words
of every refusal."""

from __future__ import annotations

import pytest

from hangu.types.v1 import types_pb2 as tpb
from hangu_runtime.errors import InvalidArgument
from hangu_runtime.filters import Args, match_labels, parse_go_bool, plain, prune_until

S = 1_000_000_000


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("", {}),
        ("{}", {}),
        ("null", {}),
        # what clients send: a set per key
        ('{"label": {"a=b": true}}', {"label": ["a=b"]}),
        ('{"label": {"a": true, "b": true}}', {"label": ["a", "b"]}),
        ('{"dangling": {"true": true}, "label": {}}', {"dangling": ["true"], "label": []}),
        ('{"label": {"off": false, "on": true}}', {"label": ["on"]}),
        ('{"label": null}', {"label": []}),
        # the older list form
        ('{"label": ["a=b", "c"]}', {"label": ["a=b", "c"]}),
        ('{"label": ["a", "a"]}', {"label": ["a"]}),  # a set: once each
        ('{"label": []}', {"label": []}),
        ('{"name": ["x", null]}', {"name": ["x", ""]}),
    ],
)
def test_from_json_both_forms(raw: str, expected: dict[str, list[str]]) -> None:
    assert Args.from_json(raw).to_dict() == expected


@pytest.mark.parametrize(
    "raw",
    [
        "{",  # not JSON
        " ",
        "[]",  # not an object
        '"label"',
        '{"label": "a"}',  # a bare string is neither form
        '{"label": [1]}',
        '{"label": {"a": "yes"}}',
        '{"a": ["x"], "b": {"y": true}}',  # the two forms mixed
    ],
)
def test_from_json_refuses_as_dockerd(raw: str) -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid filter$"):
        Args.from_json(raw)


def test_plain_turns_a_proto_map_into_a_dict() -> None:
    proto_map = {"label": tpb.StringList(values=["a", "b"]), "x": tpb.StringList()}
    assert plain(proto_map) == {"label": ["a", "b"], "x": []}


def test_validate_names_the_unknown_key() -> None:
    Args({"label": ["a"], "until": ["1h"]}).validate({"label", "until"})
    Args().validate(set())
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'x'$"):
        Args({"label": ["a"], "x": ["1"]}).validate({"label"})
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'a'$"):
        Args({"z": [], "a": []}).validate(set())  # the first of them, sorted


LABELS = {"app": "web", "tier": "", "env": "prod"}


@pytest.mark.parametrize(
    "wanted,labels,ok",
    [
        ([], LABELS, True),  # no filter: everything
        ([], {}, True),
        (["app"], LABELS, True),  # label=k: the key exists
        (["app=web"], LABELS, True),  # label=k=v: and has that value
        (["app=db"], LABELS, False),
        (["tier="], LABELS, True),  # an empty value is a value
        (["tier=x"], LABELS, False),
        (["app", "env=prod"], LABELS, True),  # every one must hold
        (["app", "env=dev"], LABELS, False),
        (["nope"], LABELS, False),
        (["app"], {}, False),  # no labels match no filter
        (["a=b=c"], {"a": "b=c"}, True),  # the first "=" splits
    ],
)
def test_match_kv_list(wanted: list[str], labels: dict[str, str], ok: bool) -> None:
    assert Args({"label": wanted}).match_kv_list("label", labels) is ok


@pytest.mark.parametrize(
    "filters,labels,kept",
    [
        ({}, LABELS, True),
        ({"label": ["app"]}, LABELS, True),
        ({"label": ["app=db"]}, LABELS, False),
        ({"label!": ["app"]}, LABELS, False),  # label!=k: not with that key
        ({"label!": ["app=db"]}, LABELS, True),  # label!=k=v: not with that value
        ({"label!": ["app=web"]}, LABELS, False),
        ({"label!": ["keep"]}, {}, True),  # nothing to exclude on
        # moby's matchLabels: label! excludes what ALL its values match
        ({"label!": ["app", "nope"]}, LABELS, True),
        ({"label!": ["app", "env=prod"]}, LABELS, False),
        ({"label": ["app"], "label!": ["env=prod"]}, LABELS, False),
        ({"label": ["app"], "label!": ["env=dev"]}, LABELS, True),
    ],
)
def test_prune_label_rules(
    filters: dict[str, list[str]], labels: dict[str, str], kept: bool
) -> None:
    assert match_labels(Args(filters), labels) is kept


@pytest.mark.parametrize(
    "values,default,expected",
    [
        (None, False, False),
        (None, True, True),
        (["true"], False, True),
        (["1"], False, True),
        (["false"], True, False),
        (["0"], True, False),
        (["true", "1"], False, True),
    ],
)
def test_bool_filters(values: list[str] | None, default: bool, expected: bool) -> None:
    args = Args({} if values is None else {"dangling": values})
    assert args.get_bool("dangling", default) is expected


@pytest.mark.parametrize(
    "values,message",
    [
        (["maybe"], "invalid filter 'dangling=[maybe]'"),
        (["TRUE"], "invalid filter 'dangling=[TRUE]'"),  # exactly true|1|false|0
        (["true", "false"], "invalid filter 'dangling=[true false]'"),  # conflicting
        ([], "invalid filter 'dangling'"),
    ],
)
def test_bool_filter_errors(values: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        Args({"dangling": values}).get_bool("dangling", False)
    assert err.value.message == message


def test_prune_until() -> None:
    now = 1_700_000_000 * S
    assert prune_until(Args(), now) is None
    assert prune_until(Args({"until": ["1h"]}), now) == now - 3600 * S
    assert prune_until(Args({"until": ["1700000000.5"]}), now) == 1_700_000_000 * S + S // 2
    assert prune_until(Args({"until": ["2023-11-14T22:13:20Z"]}), now) == now
    with pytest.raises(InvalidArgument, match=r"^more than one until filter specified$"):
        prune_until(Args({"until": ["1h", "2h"]}), now)
    with pytest.raises(InvalidArgument) as err:
        prune_until(Args({"until": ["soon"]}), now)
    assert err.value.message == (
        'failed to parse value as time or duration: invalid seconds "soon": invalid syntax'
    )
    # The image service's words (dockerd's image prune) put a prefix first.
    with pytest.raises(InvalidArgument, match=r"^invalid value for 'until' filter: parsing time"):
        prune_until(
            Args({"until": ["2023-13-01"]}), now, prefix="invalid value for 'until' filter: "
        )


@pytest.mark.parametrize(
    "text,value",
    [("1", True), ("t", True), ("TRUE", True), ("True", True), ("0", False), ("F", False)],
)
def test_go_bools(text: str, value: bool) -> None:
    assert parse_go_bool(text) is value


def test_go_bool_error() -> None:
    with pytest.raises(ValueError, match='^strconv.ParseBool: parsing "yes": invalid syntax$'):
        parse_go_bool("yes")


def test_args_is_a_set_per_key() -> None:
    args = Args({"label": ["a"]})
    args.add("label", "a")
    args.add("label", "b")
    args.add("name", "x")
    assert args.get("label") == ["a", "b"] and args.get("none") == []
    assert args.contains("name") and not args.contains("none") and len(args) == 2
    assert args == Args({"label": ["a", "b"], "name": ["x"]})
