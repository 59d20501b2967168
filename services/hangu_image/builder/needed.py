"""Which stages a build needs: the target and, transitively, the stages it
starts FROM or copies --from. A stage nothing needs is not built (a step a
classic dockerd would run for nothing). A --from that only a variable names
cannot be known before the build: then every earlier stage is kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .. import dockerfile as df


def needed_stages(stages: Sequence[df.Stage], expand_from: Callable[[str], str]) -> list[bool]:
    """One flag per stage; the last stage is the target. `expand_from`
    expands a FROM name with the meta ARGs."""
    index_of: dict[str, int] = {}
    for i, stage in enumerate(stages):
        if stage.name:
            index_of.setdefault(stage.name, i)
    needed = [False] * len(stages)
    needed[-1] = True
    for i in range(len(stages) - 1, -1, -1):
        if not needed[i]:
            continue
        stage = stages[i]
        for ref in _references(stage, expand_from):
            if ref is None:
                needed[:i] = [True] * i
                break
            earlier = index_of.get(ref.lower())
            if earlier is None and ref.isdigit():
                earlier = int(ref)
            if earlier is not None and earlier < i:
                needed[earlier] = True
    return needed


def _references(stage: df.Stage, expand_from: Callable[[str], str]) -> list[str | None]:
    """The stage names (or indexes) a stage uses; None for one that a
    variable names."""
    refs: list[str | None] = [expand_from(stage.base_name)]
    for ins in stage.instructions:
        if isinstance(ins, df.Copy) and ins.from_stage:
            refs.append(None if "$" in ins.from_stage else ins.from_stage)
    return refs
