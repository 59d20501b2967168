"""Build arguments as the classic builder scopes them: `--build-arg`
values override ARG defaults; the ARGs before the first FROM are only for
FROM lines unless a stage declares them again; a stage sees the ARGs it
declared; the proxy variables are usable undeclared but never part of the
cache key or the history."""

from __future__ import annotations

from collections.abc import Mapping

PREDEFINED = frozenset(
    (
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    )
)


class BuildArgs:
    def __init__(self, given: Mapping[str, str | None]) -> None:
        self.given = dict(given)
        self.meta: dict[str, str | None] = {}
        self.consumed: set[str] = set()

    def declare_meta(self, name: str, default: str | None) -> None:
        self.meta[name] = self._value(name, default)

    def meta_env(self) -> dict[str, str]:
        return {k: v for k, v in self.meta.items() if v is not None}

    def _value(self, name: str, default: str | None) -> str | None:
        self.consumed.add(name)
        given = self.given.get(name)
        return given if given is not None else default

    def stage(self) -> StageArgs:
        return StageArgs(self)

    def unconsumed(self) -> list[str]:
        return sorted(
            name for name in self.given if name not in self.consumed and name not in PREDEFINED
        )


class StageArgs:
    """The ARGs one stage declared, in declaration order."""

    def __init__(self, build: BuildArgs) -> None:
        self.build = build
        self.declared: dict[str, str | None] = {}

    def declare(self, name: str, default: str | None) -> None:
        # A re-declared meta ARG without a default takes the meta value.
        if default is None and name in self.build.meta:
            default = self.build.meta[name]
        self.declared[name] = self.build._value(name, default)

    def values(self, env: list[str]) -> dict[str, str]:
        """The declared ARGs with a value that no ENV of the stage shadows,
        plus the proxy variables given: what RUN gets in its environment."""
        shadowed = {item.split("=", 1)[0] for item in env}
        out = {k: v for k, v in self.declared.items() if v is not None and k not in shadowed}
        for name in PREDEFINED:
            value = self.build.given.get(name)
            if value is not None and name not in out and name not in shadowed:
                out[name] = value
        return out

    def keyed(self, env: list[str]) -> dict[str, str]:
        """What of `values` goes into the cache key and the history."""
        return {
            k: v for k, v in self.values(env).items() if k not in PREDEFINED or k in self.declared
        }

    def expansion_env(self, env: list[str]) -> dict[str, str]:
        """The variables a Dockerfile word sees: ARGs, shadowed by ENV."""
        out = {k: v for k, v in self.declared.items() if v is not None}
        for item in env:
            key, _, value = item.partition("=")
            out[key] = value
        return out
