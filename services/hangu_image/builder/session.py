"""One `docker build`, start to end: the context unpacked into a folder of
its own, the Dockerfile parsed and refused before any step if it is bad,
the stages up to the target built step by step (each step a cache probe,
then a metadata commit, a RUN container or a copy into a mounted root
filesystem), the result tagged, and everything the build made on the way
(containers, mounts, the context) removed whatever happened."""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hangu_runtime.errors import HanguError, InvalidArgument
from hangu_runtime.timing import Phases

from .. import buildcontext, platforms
from .. import dockerfile as df
from ..commit import commit_upper
from ..layers import chain_ids
from ..placeholders import mount_placeholder_filter
from ..platforms import host_platform
from ..progress import Cancelled, ProgressEvent
from ..reference import Reference, parse, parse_repository_tag
from ..shellwords import Lex
from . import remote, steps
from .buildargs import BuildArgs
from .cache import BuildCache
from .copying import ContextSums
from .fsstep import FsStep
from .imageconfig import child_config, shell_of, with_comment
from .journal import ContainerJournal
from .needed import needed_stages
from .options import BuildOptions
from .output import BuildOutput
from .plan import read_plan
from .running import StepFailed, run_container
from .state import StageState
from .tools import Tools
from .transfer import Transfer, make_dir


class BuildSession:
    def __init__(
        self,
        builder: Tools,
        options: BuildOptions,
        emit: Callable[[ProgressEvent], None],
        cancel: threading.Event,
    ) -> None:
        self.b = builder
        self.images = builder.images
        self.options = options
        self.cancel = cancel
        self.out = BuildOutput(emit, options.quiet)
        self.work = builder.work_root / secrets.token_hex(8)
        self.context = self.work / "context"
        self.containers = ContainerJournal(self.work)  # RUN containers not removed yet
        self.fs = FsStep(builder.images, builder.rootfs, self.work.name)
        self.stages: dict[str, StageState] = {}  # by name and by index
        self.args = BuildArgs(options.build_args)
        self.cache = BuildCache(builder.images, options.cache_from)
        self.context_sums = ContextSums()  # filled while the context arrives
        self.step = 0
        self.total = 0
        self._current = StageState(0, "", self.args.stage(), Lex())
        self.begun = False  # a step began: later failures go in the stream
        self.phases = Phases("build")

    # ------------------------------------------------------------ driver
    def run(self, context: Iterable[bytes]) -> None:
        try:
            self._drive(context)
        finally:
            self.phases.done(steps=self.step)

    def _drive(self, context: Iterable[bytes]) -> None:
        # The last message goes out after the clean-up: a client that sees
        # the build end sees no container or mount of it left.
        try:
            final, tags = self._execute(context)
        except Cancelled:
            self._clean_up()
            return
        except StepFailed as err:
            self._clean_up()
            self.out.fail(err.message, err.code)
            return
        except HanguError as err:
            self._clean_up()
            if not self.begun:
                raise
            self.out.fail(err.message)
            return
        except BaseException:
            self._clean_up()
            raise
        self._clean_up()
        self.out.done(final, [ref.familiar for ref in tags])

    def _execute(self, context: Iterable[bytes]) -> tuple[str, list[Reference]]:
        self.context.mkdir(parents=True)
        tags = [self._tag_ref(t) for t in self.options.tags]
        if self.options.remote:
            remote.fetch_context(self.options.remote, self.context, self.options.dockerfile)
        else:
            buildcontext.extract(context, self.context, self.context_sums)
        self.phases.mark("context")
        plan = read_plan(self.context, self.options)
        self.phases.mark("dockerfile")
        for note in plan.notes:
            self.out.text(note)
        self._build(plan.stages, plan.meta_args, plan.escape)
        final = self._current.image_id
        if not final:
            raise StepFailed("No image was generated. Is your Dockerfile empty?")
        unused = self.args.unconsumed()
        if unused:
            self.out.text(
                f"[Warning] One or more build-args [{' '.join(unused)}] were not consumed\n"
            )
        for ref in tags:
            self.images.set_ref(ref, final)
            self.images.events.emit("tag", final, name=ref.familiar)
        self.phases.mark("tag")
        return final, tags

    def _clean_up(self) -> None:
        # A failed build's containers go too unless asked to keep them
        # (rm=false): a build leaves nothing behind it did not say it made.
        if self.options.remove or self.options.force_remove:
            for cid in list(self.containers):
                self._remove_container(cid, quiet=True)
        self.fs.close()
        # The context can be large: out of the way now, deleted after.
        trash = self.b.work_root / f".rm-{self.work.name}"
        try:
            os.rename(self.work, trash)
        except FileNotFoundError:
            pass
        else:
            threading.Thread(
                target=shutil.rmtree, args=(trash, True), name="build-rm", daemon=True
            ).start()
        self.phases.mark("cleanup")

    def _remove_container(self, cid: str, quiet: bool = False) -> None:
        try:
            self.b.containers.remove(cid)
        except HanguError:
            return
        self.containers.discard(cid)
        if not quiet:
            self.out.arrow(f"Removed intermediate container {cid[:12]}")

    # ------------------------------------------------------------ the Dockerfile
    def _tag_ref(self, tag: str) -> Reference:
        try:
            return parse_repository_tag(tag, "").with_default_tag()
        except InvalidArgument:
            raise InvalidArgument(f"invalid reference format: {tag}") from None

    # ------------------------------------------------------------ stages
    def _build(self, stages: tuple[df.Stage, ...], meta: tuple[df.Arg, ...], escape: str) -> None:
        lex = Lex(escape)
        for arg in meta:
            for a in arg.args:
                default = (
                    lex.process_word(a.default, self.args.meta_env())
                    if a.default is not None
                    else None
                )
                self.args.declare_meta(a.name, default)
        needed = needed_stages(stages, lambda name: lex.process_word(name, self.args.meta_env()))
        stages = tuple(stage for stage, keep in zip(stages, needed, strict=True) if keep)
        self.total = len(meta) + sum(1 + len(s.instructions) for s in stages)
        for arg in meta:
            # Meta ARGs are steps of their own, with nothing to commit.
            self._next_step(arg.original)
        for i, stage in enumerate(stages):
            state = StageState(stage.index, stage.name, self.args.stage(), lex)
            self._current = state
            self._from(state, stage.from_instruction)
            for ins in stage.instructions:
                self._next_step(ins.original)
                self._dispatch(state, ins)
            self.stages[str(stage.index)] = state
            if stage.name:
                self.stages[stage.name] = state
            if i < len(stages) - 1:
                self.out.result(state.image_id)

    def _next_step(self, original: str) -> None:
        if self.cancel.is_set():
            raise Cancelled("build cancelled")
        if self.step:
            self.phases.mark(f"step{self.step}")
        self.step += 1
        self.begun = True
        self.out.step(self.step, self.total, original)

    def _from(self, state: StageState, ins: df.From) -> None:
        self._next_step(ins.original)
        name = state.lex.process_word(ins.base_name, self.args.meta_env())
        if not name:
            raise StepFailed("base name (" + ins.base_name + ") should not be blank")
        if name.lower() == "scratch":
            state.at("", {})
            self.out.arrow("")  # dockerd's empty id line
            return
        earlier = self.stages.get(name.lower())
        if earlier is not None and not name.isdigit():
            # An earlier stage: no id line, as dockerd.
            state.at(earlier.image_id, dict(earlier.image_config))
            state.config = copy.deepcopy(earlier.config)
        else:
            image_id, config = self.image(name, pull=self.options.pull)
            state.at(image_id, config)
            self.out.image(state.image_id)
        self._onbuild(state)

    def image(self, name: str, pull: bool = False) -> tuple[str, dict[str, Any]]:
        """A base image (or COPY --from source) by name, pulled when missing."""
        if not pull:
            try:
                local = self.images.resolve(name)
            except HanguError:
                pass
            else:
                _, config = self.images.config_of(local.id)
                want = self.options.platform
                if want is None or platforms.matches(want, config):
                    return local.id, config
        ref = parse(name)
        creds = self.options.registry_auths.get(ref.domain)
        if creds is None and ref.domain == "docker.io":
            creds = self.options.registry_auths.get("https://index.docker.io/v1/")
        try:
            for event in self.b.distribution.pull(name, self.options.platform, creds, self.cancel):
                if event.error:
                    raise StepFailed(event.error)
                self.out.send(event)
        except HanguError as err:
            raise StepFailed(err.message) from None
        view = self.images.cached_view(name)
        return view.id, view.config

    def _onbuild(self, state: StageState) -> None:
        triggers = list(state.config.get("OnBuild") or [])
        if not triggers:
            return
        word = "trigger" if len(triggers) == 1 else "triggers"
        self.out.text(f"# Executing {len(triggers)} build {word}\n")
        state.config["OnBuild"] = []
        for expression in triggers:
            try:
                ins = df.parse_trigger(expression)
            except HanguError as err:
                raise StepFailed(err.message) from None
            self._dispatch(state, ins)

    # ------------------------------------------------------------ steps
    def _dispatch(self, state: StageState, ins: df.Instruction) -> None:
        if isinstance(ins, df.Run):
            self._run_step(state, ins)
        elif isinstance(ins, (df.Copy, df.Add)):
            self._transfer(state, ins)
        else:
            try:
                comment = steps.apply(state, ins)
            except HanguError as err:
                raise StepFailed(err.message) from None
            cc = with_comment(
                self._with_image(state, state.config), comment.text, joined=comment.joined
            )
            if self._cached(state, cc):
                return
            made = None
            if isinstance(ins, df.Workdir):
                made = self.fs.run(state, lambda root: make_dir(root, state.config["WorkingDir"]))
            self._commit(state, cc, made)

    def _with_image(self, state: StageState, config: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(config)
        out["Image"] = state.image_id
        return out

    def _cached(self, state: StageState, container_config: dict[str, Any]) -> bool:
        if self.options.no_cache or state.cache_busted:
            return False
        hit = self.cache.probe(state.image_id, container_config)
        if hit is None:
            state.cache_busted = True
            return False
        self.out.arrow("Using cache")
        _, config = self.images.config_of(hit)
        state.image_id, state.image_config = hit, config
        self.out.image(hit)
        return True

    def _commit(
        self,
        state: StageState,
        container_config: dict[str, Any],
        made: tuple[list[str], list[str]] | None,
        container_id: str = "",
        announce: bool = True,
    ) -> None:
        """Register the step's image (its new layer, if any, is pinned
        until then) and move the stage to it."""
        try:
            blob = child_config(
                state.image_config,
                config=state.config,
                container_config=container_config,
                diff_ids=made[0] if made else None,
                parent_id=state.image_id,
                container_id=container_id,
                author=state.author,
                platform=self._platform_fields(),
            )
            config = json.loads(blob)
            rec = self.images.register(blob, chain_ids(list(config["rootfs"]["diff_ids"])))
        finally:
            if made:
                self.images.layers.unpin(made[1][-1])
        state.image_id, state.image_config = rec.id, config
        if announce:
            self.out.image(rec.id)

    def _platform_fields(self) -> dict[str, str]:
        platform = self.options.platform or host_platform()
        out = {"architecture": platform.architecture, "os": platform.os}
        if platform.variant:
            out["variant"] = platform.variant
        return out

    def _run_step(self, state: StageState, ins: df.Run) -> None:
        cmd = list(ins.command) if ins.exec_form else shell_of(state.config) + list(ins.command)
        keyed = state.args.keyed(state.env)
        saved = cmd
        if keyed:
            saved = [f"|{len(keyed)}", *sorted(f"{k}={v}" for k, v in keyed.items()), *cmd]
        cc = self._with_image(state, state.config)
        cc["Cmd"] = saved
        cc.pop("Entrypoint", None)
        if self._cached(state, cc):
            return
        if not state.image_id:
            raise StepFailed("Please provide a source image with `from` prior to run")
        run = self._with_image(state, state.config)
        run["Cmd"] = cmd
        run["Env"] = state.env + [f"{k}={v}" for k, v in state.args.values(state.env).items()]
        run["Entrypoint"] = []
        run.pop("Healthcheck", None)
        cid = run_container(
            self.b.containers, run, self.options.limits, self.out, self.cancel, self.containers
        )
        info = self.b.rootfs.get(cid)
        made = commit_upper(
            self.images,
            Path(info.upper_dir),
            state.diff_ids,
            skip=mount_placeholder_filter(Path(info.upper_dir), info.lower_dirs),
        )
        self._commit(state, cc, made, container_id=cid, announce=False)
        if self.options.remove or self.options.force_remove:
            self._remove_container(cid)
        self.out.image(state.image_id)

    def _transfer(self, state: StageState, ins: df.FileTransfer) -> None:
        transfer = Transfer(self, state, ins)
        try:
            cc = with_comment(
                self._with_image(state, state.config), transfer.comment(), joined=True
            )
            if self._cached(state, cc):
                return
            made = self.fs.run(state, transfer.apply)
            self._commit(state, cc, made)
        finally:
            transfer.close()
