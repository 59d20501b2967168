"""Dockerfiles parsed as Docker's classic builder parses them (moby uses
buildkit's `frontend/dockerfile/parser` and `instructions` packages).

`parse()` reads parser directives (`# syntax=`, `# escape=`, `# check=`),
comments, line continuations and heredocs into one typed `Instruction` per
statement, with its flags, original text and lines, and reports problems as
a `DockerfileError` worded as Docker words them. `split_stages()` groups the
instructions into build stages, keeping the ARGs before the first FROM apart.

Arguments are kept as written: quotes and escapes inside ENV, LABEL and ARG
values, COPY sources and the like are removed later, when the builder expands
them with `shellwords` (RUN, CMD and ENTRYPOINT shell forms never are).

The package: statements.py reads the text into statements, instructions.py
makes typed instructions (model.py) of them, parser.py is the entry."""

from __future__ import annotations

from .errors import DockerfileError
from .model import (
    DEFAULT_DOCKERFILE_NAME,
    DEFAULT_ESCAPE,
    KNOWN_INSTRUCTIONS,
    Add,
    Arg,
    ArgDefinition,
    Cmd,
    CommandInstruction,
    Copy,
    Dockerfile,
    Entrypoint,
    Env,
    Expose,
    FileTransfer,
    FlagValue,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    Stage,
    StopSignal,
    User,
    Volume,
    Workdir,
    split_stages,
)
from .parser import parse, parse_trigger

__all__ = [
    "Add",
    "Arg",
    "ArgDefinition",
    "Cmd",
    "CommandInstruction",
    "Copy",
    "DEFAULT_DOCKERFILE_NAME",
    "DEFAULT_ESCAPE",
    "Dockerfile",
    "DockerfileError",
    "Entrypoint",
    "Env",
    "Expose",
    "FileTransfer",
    "FlagValue",
    "From",
    "Healthcheck",
    "Heredoc",
    "Instruction",
    "KNOWN_INSTRUCTIONS",
    "KeyValue",
    "Label",
    "Maintainer",
    "Onbuild",
    "Run",
    "Shell",
    "Stage",
    "StopSignal",
    "User",
    "Volume",
    "Workdir",
    "parse",
    "parse_trigger",
    "split_stages",
]
