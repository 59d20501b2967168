"""What a build will build, read before any step: the Dockerfile found in
the context and parsed, the context trimmed by its .dockerignore, the
stages cut at the target, the build's own labels as steps of the last
stage, and the notes the stream begins with (Dockerfile warnings, an
ignored syntax directive)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hangu_runtime.errors import InvalidArgument

from .. import buildcontext
from .. import dockerfile as df
from .options import BuildOptions
from .steps import NO_EXPANSION


@dataclass(frozen=True)
class Plan:
    stages: tuple[df.Stage, ...]
    meta_args: tuple[df.Arg, ...]
    escape: str
    notes: tuple[str, ...]


def read_plan(context: Path, options: BuildOptions) -> Plan:
    rel = buildcontext.locate_dockerfile(context, options.dockerfile)
    text = buildcontext.read_dockerfile(context, rel)
    parsed = df.parse(text, options.dockerfile or df.DEFAULT_DOCKERFILE_NAME)
    buildcontext.apply_dockerignore(context, rel)
    buildcontext.drop_build_files(context, rel)
    stages = parsed.stages
    if not stages:
        raise InvalidArgument("dockerfile contains no stages to build")
    if options.target:
        names = [s.name for s in stages]
        target = options.target.lower()
        if target not in names:
            raise InvalidArgument(f"failed to reach build target {options.target} in Dockerfile")
        stages = stages[: names.index(target) + 1]
    if options.labels:
        stages = stages[:-1] + (_with_labels(stages[-1], options.labels),)
    return Plan(stages, parsed.meta_args, parsed.escape, _notes(parsed))


def _with_labels(stage: df.Stage, labels: dict[str, str]) -> df.Stage:
    """One LABEL step per --label, as dockerd adds them, taken as given
    (never expanded)."""
    extra = tuple(
        df.Label(
            keyword="LABEL",
            original=f"LABEL {k}={v}",
            start_line=0,
            end_line=0,
            flags={NO_EXPANSION: True},
            pairs=(df.KeyValue(k, v),),
        )
        for k, v in sorted(labels.items())
    )
    return df.Stage(stage.index, stage.from_instruction, stage.instructions + extra)


def _notes(parsed: df.Dockerfile) -> tuple[str, ...]:
    notes = [f"[WARNING]: {warning}\n" for warning in parsed.warnings]
    if parsed.warnings:
        notes.append(
            "[WARNING]: Empty continuation lines will become errors in a future release.\n"
        )
    syntax = parsed.directives.get("syntax")
    if syntax:
        # A frontend image is BuildKit's; this builder reads the file itself.
        notes.append(
            f"[Warning] the syntax directive ({syntax}) is ignored: "
            "the classic builder parses the Dockerfile itself\n"
        )
    return tuple(notes)
