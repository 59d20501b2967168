"""A COPY or ADD step of a build: its words expanded, its sources found
(the context, an earlier stage or an image for --from) and summed before
anything is written, then written into the step's root filesystem."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from hangu_runtime.errors import HanguError

from .. import dockerfile as df
from . import copying, placing
from .fsstep import FsStep
from .running import StepFailed
from .state import StageState


class TransferHost(Protocol):
    """What a transfer needs of its build (the session)."""

    context: Path
    stages: dict[str, StageState]
    fs: FsStep
    context_sums: copying.ContextSums

    def image(self, name: str, pull: bool = False) -> tuple[str, dict[str, Any]]: ...


class Transfer:
    def __init__(self, session: TransferHost, state: StageState, ins: df.FileTransfer) -> None:
        self.ins = ins
        self.chown = state.expand(ins.chown) if ins.chown else ""
        self.chmod = state.expand(ins.chmod) if ins.chmod else ""
        self.mode = placing.parse_chmod(self.chmod)
        sources = [state.expand(s) for s in ins.sources]
        dest = state.expand(ins.dest)
        root, from_context = session.context, True
        source_name = state.expand(ins.from_stage) if isinstance(ins, df.Copy) else ""
        if source_name:
            root, from_context = self._source_root(session, source_name), False
        self.plan = copying.plan(
            root,
            sources,
            dest,
            instruction=ins.keyword,
            workdir=str(state.config.get("WorkingDir") or "/"),
            from_context=from_context,
            known=session.context_sums,
        )

    @staticmethod
    def _source_root(session: TransferHost, name: str) -> Path:
        stage = session.stages.get(name.lower())
        if stage is not None:
            image_id = stage.image_id
        else:
            try:
                image_id, _ = session.image(name)
            except (StepFailed, HanguError) as err:
                message = err.message if isinstance(err, (StepFailed, HanguError)) else str(err)
                raise StepFailed(f"invalid from flag value {name}: {message}") from None
        return session.fs.source(image_id)

    def comment(self) -> str:
        """dockerd's history text; a --chmod (BuildKit's flag, which the
        classic dockerd refuses) is said before it, so the mode is part of
        the step's cache identity."""
        text = self.plan.comment(self.chown)
        if self.mode is None:
            return text
        keyword, _, rest = text.partition(" ")
        return f"{keyword} --chmod={self.mode:o} {rest}"

    def apply(self, root: Path) -> None:
        owner = placing.resolve_owner(root, self.chown)
        placing.apply(self.plan, root, owner=owner, mode=self.mode)

    def close(self) -> None:
        self.plan.close()


def make_dir(root: Path, path: str) -> None:
    """WORKDIR's folder, made in `root` (symlinks resolved inside it)."""
    Path(copying.scoped(str(root), path.lstrip("/"))).mkdir(parents=True, exist_ok=True)
