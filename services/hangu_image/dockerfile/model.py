"""What a Dockerfile parse returns: one typed instruction per statement,
the stages, the directives."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import DockerfileError

DEFAULT_DOCKERFILE_NAME = "Dockerfile"
DEFAULT_ESCAPE = "\\"
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
KNOWN_INSTRUCTIONS = (
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
)
FlagValue = str | bool | tuple[str, ...]


# --- what a parse returns ----------------------------------------------------


@dataclass(frozen=True)
class Heredoc:
    """A here-document: `<<NAME` (or `<<-NAME`, `3<<NAME`) and its lines.
    `expand` is false when any part of the word was quoted."""

    name: str
    content: str
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def text(self) -> str:
        """The content with leading tabs removed when written `<<-`."""
        return _LEADING_TABS.sub("", self.content) if self.chomp else self.content


@dataclass(frozen=True)
class KeyValue:
    """One ENV or LABEL pair; `legacy` for the `ENV key value` form."""

    key: str
    value: str
    legacy: bool = False


@dataclass(frozen=True)
class ArgDefinition:
    """`ARG name` (default None) or `ARG name=default`."""

    name: str
    default: str | None = None


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """What every instruction has: its upper-case keyword, the statement as
    written (continuations joined), its first and last line, and the flags
    given (`--from=x` as {"from": "x"}, `--link` as {"link": True}, repeatable
    ones such as `--mount` as tuples)."""

    keyword: str
    original: str
    start_line: int
    end_line: int
    flags: Mapping[str, FlagValue] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    base_name: str
    stage_name: str = ""  # lower-cased, as Docker stores it
    platform: str = ""


@dataclass(frozen=True, kw_only=True)
class CommandInstruction(Instruction):
    """RUN, CMD and ENTRYPOINT: `command` is the exec-form array, or the one
    shell-form string (the shell is prepended at build time)."""

    command: tuple[str, ...]
    exec_form: bool


@dataclass(frozen=True, kw_only=True)
class Run(CommandInstruction):
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[str, ...] = ()
    network: str = "default"
    security: str = "sandbox"
    devices: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Cmd(CommandInstruction):
    pass


@dataclass(frozen=True, kw_only=True)
class Entrypoint(CommandInstruction):
    pass


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    shell: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class FileTransfer(Instruction):
    """ADD and COPY: source paths, heredoc sources (`COPY <<EOF /dest`) and
    the destination."""

    sources: tuple[str, ...]
    dest: str
    source_heredocs: tuple[Heredoc, ...] = ()
    exec_form: bool = False
    chown: str = ""
    chmod: str = ""
    link: bool = False
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Copy(FileTransfer):
    from_stage: str = ""
    parents: bool = False


@dataclass(frozen=True, kw_only=True)
class Add(FileTransfer):
    checksum: str = ""
    keep_git_dir: bool | None = None
    unpack: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    pairs: tuple[KeyValue, ...]


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    args: tuple[ArgDefinition, ...]


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    ports: tuple[str, ...]  # sorted, as Docker sorts them


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    user: str


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    path: str


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    signal: str


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    maintainer: str


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    volumes: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    """`trigger` is the nested keyword; `expression` the nested statement as
    stored in the image (parse it with `parse_trigger` when it fires)."""

    trigger: str
    expression: str


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """`test` is `("NONE",)`, `("CMD", *argv)` or `("CMD-SHELL", command)`;
    durations are nanoseconds, 0 meaning "inherit / default"."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Stage:
    """One build stage: its FROM and the instructions up to the next FROM."""

    index: int
    from_instruction: From
    instructions: tuple[Instruction, ...]

    @property
    def name(self) -> str:
        return self.from_instruction.stage_name

    @property
    def base_name(self) -> str:
        return self.from_instruction.base_name

    @property
    def platform(self) -> str:
        return self.from_instruction.platform


@dataclass(frozen=True)
class Dockerfile:
    """A parsed Dockerfile. `directives` maps lower-case directive names to
    their values; `warnings` are Docker's empty-continuation-line warnings."""

    instructions: tuple[Instruction, ...]
    directives: Mapping[str, str] = field(default_factory=dict)
    escape: str = DEFAULT_ESCAPE
    warnings: tuple[str, ...] = ()

    @property
    def meta_args(self) -> tuple[Arg, ...]:
        return split_stages(self.instructions)[0]

    @property
    def stages(self) -> tuple[Stage, ...]:
        return split_stages(self.instructions)[1]


def split_stages(
    instructions: Iterable[Instruction],
) -> tuple[tuple[Arg, ...], tuple[Stage, ...]]:
    """The meta ARGs (before the first FROM) and the stages."""
    meta_args: list[Arg] = []
    stages: list[tuple[From, list[Instruction]]] = []
    for instruction in instructions:
        if isinstance(instruction, From):
            stages.append((instruction, []))
        elif stages:
            stages[-1][1].append(instruction)
        elif isinstance(instruction, Arg):
            meta_args.append(instruction)
        else:
            raise no_stage(instruction)
    return tuple(meta_args), tuple(
        Stage(index, start, tuple(body)) for index, (start, body) in enumerate(stages)
    )


def no_stage(instruction: Instruction) -> DockerfileError:
    # moby reports this one without the "dockerfile parse error" prefix.
    return DockerfileError(
        "no build stage in current context", instruction.start_line, end_line=instruction.end_line
    )
