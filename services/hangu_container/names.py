"""Container names: validation as dockerd's, and generated
"adjective_surname" names for containers created without one."""

from __future__ import annotations

import re
import secrets

from hangu_runtime.errors import InvalidArgument

VALID_NAME = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")

# Our own lists (adjectives about harbours and ships' weather; surnames of
# navigators, cartographers and engineers).
# fmt: off
ADJECTIVES = [
    "amber", "ardent", "brave", "breezy", "bright", "calm", "clever", "coastal", "cosmic",
    "daring", "deep", "eager", "fair", "fearless", "gentle", "golden", "hardy", "hidden",
    "humble", "jolly", "keen", "kind", "lively", "lucid", "mellow", "misty", "modest",
    "nimble", "noble", "patient", "placid", "proud", "quiet", "rapid", "restless", "salty",
    "serene", "silent", "sleepy", "snowy", "steady", "stoic", "sunny", "swift", "tidal",
    "tranquil", "upbeat", "vivid", "wandering", "wise", "witty", "zealous",
]
SURNAMES = [
    "albuquerque", "amundsen", "baffin", "barents", "bering", "bougainville", "brunel",
    "cabot", "cartier", "champlain", "cook", "dampier", "drake", "flinders", "franklin",
    "frobisher", "gama", "hudson", "humboldt", "jansz", "kidd", "laperouse", "magellan",
    "mercator", "nansen", "ortelius", "pytheas", "raleigh", "ross", "scott", "shackleton",
    "tasman", "vancouver", "vespucci", "yi", "zheng", "ibn_battuta", "hanno", "leif",
    "behaim", "cabral", "quiros", "tupaia", "fridtjof", "kupe", "bellingshausen",
]
# fmt: on


def validate(name: str) -> str:
    """The name without its leading "/" (dockerd accepts either)."""
    if not VALID_NAME.match(name):
        raise InvalidArgument(
            f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )
    return name.lstrip("/")


def generate(taken: set[str]) -> str:
    for attempt in range(20):
        name = f"{secrets.choice(ADJECTIVES)}_{secrets.choice(SURNAMES)}"
        if attempt >= 10:
            name += str(secrets.randbelow(10))
        if name not in taken:
            return name
    return f"{secrets.choice(ADJECTIVES)}_{secrets.token_hex(4)}"
