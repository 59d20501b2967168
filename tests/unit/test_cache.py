"""RecordCache: loaded once, written through, and a load that races a write
is answered but not kept."""

from __future__ import annotations

from hangu_runtime.cache import RecordCache


def test_loaded_once_then_served_from_memory() -> None:
    loads: list[str] = []

    def load(key: str) -> str | None:
        loads.append(key)
        return None if key == "missing" else key.upper()

    cache: RecordCache[str, str] = RecordCache()
    assert cache.get("a", load) == "A" and cache.get("a", load) == "A"
    assert cache.get("missing", load) is None and cache.get("missing", load) is None
    assert loads == ["a", "missing", "missing"]  # a miss is not remembered
    cache.keep("a", "written")
    assert cache.get("a", load) == "written"
    cache.keep("a", None)
    assert cache.get("a", load) == "A" and loads[-1] == "a"
    cache.clear()
    assert cache.get("a", load) == "A" and loads.count("a") == 3


def test_a_load_racing_a_write_is_not_kept() -> None:
    cache: RecordCache[str, str] = RecordCache()

    def stale_load(key: str) -> str:
        # A write lands while this load reads what was there before it.
        cache.keep("other", "x")
        return "stale"

    assert cache.get("a", stale_load) == "stale"
    assert cache.get("a", lambda key: "fresh") == "fresh"
