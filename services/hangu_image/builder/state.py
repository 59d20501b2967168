"""One build stage while it is built: the image it is at, that image's
config, the container config the next step starts from, its ARGs."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..shellwords import Lex
from .buildargs import StageArgs


@dataclass
class StageState:
    index: int
    name: str
    args: StageArgs
    lex: Lex
    image_id: str = ""  # "" until a FROM scratch stage has a step
    image_config: dict[str, Any] = field(default_factory=dict)  # the whole config blob
    config: dict[str, Any] = field(default_factory=dict)  # its "config" object, as edited
    author: str = ""  # MAINTAINER
    cmd_set: bool = False  # a CMD in this stage (ENTRYPOINT then keeps it)
    cache_busted: bool = False  # a miss: later steps of the stage are not probed

    def at(self, image_id: str, image_config: dict[str, Any]) -> None:
        self.image_id = image_id
        self.image_config = image_config
        self.config = copy.deepcopy(image_config.get("config") or {})
        self.author = str(image_config.get("author") or "")

    @property
    def env(self) -> list[str]:
        return list(self.config.get("Env") or [])

    @property
    def diff_ids(self) -> list[str]:
        return list((self.image_config.get("rootfs") or {}).get("diff_ids") or [])

    def expand(self, word: str) -> str:
        return self.lex.process_word(word, self.args.expansion_env(self.env))

    def expand_words(self, word: str) -> list[str]:
        return self.lex.process_words(word, self.args.expansion_env(self.env))
