"""Docker's `filters`: one set of rules for every list, prune and events
call, as moby's filters.Args has them.

The gateway builds `Args` from the `filters` query parameter
(`Args.from_json`); a service builds it from the plain dict its servicer
made of the request's `map<string, StringList>` (`plain`), so domain code
never sees protobuf. Either way a key maps to its values, in the order
given, each once (moby keeps a set).

The rules kept here, with dockerd's wording for every refusal (raised as
InvalidArgument, Docker's 400):

- `{"key": {"value": true}}` (what clients send) and the older
  `{"key": ["value"]}`; anything else is "invalid filter". A value mapped
  to false is left out (moby keeps it in some checks and not in others);
- `validate`: a key the endpoint does not know is "invalid filter 'key'";
- `match_kv_list`: `label=k` and `label=k=v`, every one must hold;
- `match_labels`: prune's `label` and `label!` (`label!` excludes what all
  of its values match, as moby's matchLabels);
- `get_bool`: `true|1|false|0` (exactly, conflicting values refused);
- `prune_until`: the one `until` value of a prune in any of Docker's time
  forms (see timeparse)."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Protocol

from .errors import InvalidArgument
from .timeparse import TimeParseError, parse


class _HasValues(Protocol):
    @property
    def values(self) -> Iterable[str]: ...


def plain(proto_map: Mapping[str, _HasValues]) -> dict[str, list[str]]:
    """A request's `map<string, StringList>` as the plain dict domain code takes."""
    return {key: list(entry.values) for key, entry in proto_map.items()}


class Args:
    """Filter keys and their values (moby's filters.Args)."""

    def __init__(self, fields: Mapping[str, Iterable[str]] | None = None) -> None:
        self._fields: dict[str, list[str]] = {}
        for key, values in (fields or {}).items():
            self._fields[key] = []
            for value in values:
                self.add(key, value)

    @classmethod
    def from_json(cls, raw: str) -> Args:
        """The `filters` query parameter, in either of its JSON forms."""
        if not raw:
            return cls()
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise InvalidArgument("invalid filter") from None
        if parsed is None:
            return cls()
        if not isinstance(parsed, dict):
            raise InvalidArgument("invalid filter")
        if all(_is_set(v) for v in parsed.values()):
            return cls(
                {k: [item for item, on in (v or {}).items() if on] for k, v in parsed.items()}
            )
        if all(_is_list(v) for v in parsed.values()):
            # JSON null in a list of strings is Go's zero string.
            return cls(
                {k: ["" if item is None else item for item in v or []] for k, v in parsed.items()}
            )
        raise InvalidArgument("invalid filter")

    # ------------------------------------------------------------ access
    def keys(self) -> list[str]:
        return list(self._fields)

    def items(self) -> list[tuple[str, list[str]]]:
        return [(key, list(values)) for key, values in self._fields.items()]

    def get(self, key: str) -> list[str]:
        return list(self._fields.get(key, []))

    def contains(self, key: str) -> bool:
        return key in self._fields

    def add(self, key: str, value: str) -> None:
        values = self._fields.setdefault(key, [])
        if value not in values:
            values.append(value)

    def to_dict(self) -> dict[str, list[str]]:
        return {key: list(values) for key, values in self._fields.items()}

    def __len__(self) -> int:
        return len(self._fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Args) and self._fields == other._fields

    def __repr__(self) -> str:
        return f"Args({self._fields!r})"

    # ------------------------------------------------------------ rules
    def validate(self, accepted: Collection[str]) -> None:
        """Refuse a key the endpoint does not take (the first, sorted:
        dockerd names whichever its map gives first)."""
        unknown = sorted(set(self._fields) - set(accepted))
        if unknown:
            raise InvalidArgument(f"invalid filter '{unknown[0]}'")

    def match_kv_list(self, key: str, sources: Mapping[str, str]) -> bool:
        """True when every value at `key` ("k" or "k=v") holds in
        `sources`, or there is none; no sources match no value."""
        wanted = self._fields.get(key)
        if not wanted:
            return True
        if not sources:
            return False
        for item in wanted:
            name, has_value, value = item.partition("=")
            if name not in sources or (has_value and sources[name] != value):
                return False
        return True

    def get_bool(self, key: str, default: bool) -> bool:
        """moby's GetBoolOrDefault: the key's truth, `default` without it."""
        if key not in self._fields:
            return default
        values = self._fields[key]
        if not values:
            raise InvalidArgument(f"invalid filter '{key}'")
        falsy = "0" in values or "false" in values
        truthy = "1" in values or "true" in values
        if falsy == truthy:
            raise InvalidArgument(f"invalid filter '{key}={go_list(values)}'")
        return truthy


def _is_set(value: Any) -> bool:
    return value is None or (
        isinstance(value, dict) and all(v is None or isinstance(v, bool) for v in value.values())
    )


def _is_list(value: Any) -> bool:
    return value is None or (
        isinstance(value, list) and all(v is None or isinstance(v, str) for v in value)
    )


def go_list(values: Iterable[str]) -> str:
    """A []string as Go's %s prints it: "[a b]"."""
    return "[" + " ".join(values) + "]"


def match_labels(args: Args, labels: Mapping[str, str]) -> bool:
    """Prune's label rules (moby's matchLabels): every `label` holds, and
    not every `label!` does."""
    if not args.match_kv_list("label", labels):
        return False
    return not (args.contains("label!") and args.match_kv_list("label!", labels))


def prune_until(args: Args, now_ns: int | None = None, prefix: str = "") -> int | None:
    """A prune's `until` in unix ns (None without one). dockerd takes one
    value only; the image service puts `prefix` before a parse error."""
    if not args.contains("until"):
        return None
    values = args.get("until")
    if len(values) > 1:
        raise InvalidArgument("more than one until filter specified")
    try:
        return parse(values[0] if values else "", now_ns)
    except TimeParseError as err:
        raise InvalidArgument(f"{prefix}{err}") from None


def parse_go_bool(value: str) -> bool:
    """Go's strconv.ParseBool; ValueError with Go's message otherwise."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{value}": invalid syntax')
