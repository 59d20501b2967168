"""The entry points: a whole Dockerfile, an ONBUILD trigger, the stages."""

from __future__ import annotations

from .errors import DockerfileError, Refusal
from .instructions import instruction_of
from .model import DEFAULT_DOCKERFILE_NAME, Arg, Dockerfile, From, Instruction, no_stage
from .statements import LocatedRefusal, parse_statements

# --- the public entry points -------------------------------------------------


def parse(text: str, name: str = DEFAULT_DOCKERFILE_NAME) -> Dockerfile:
    """Parse a whole Dockerfile; `name` is the file name Docker's messages
    show (the build's `-f`)."""
    if text == "":
        raise DockerfileError(f"the Dockerfile ({name}) cannot be empty")
    try:
        parsed = parse_statements(text)
    except LocatedRefusal as refusal:
        raise DockerfileError(
            f"failed to parse {name}: {refusal.reason}",
            refusal.line,
            reason=refusal.reason,
            end_line=refusal.end_line,
        ) from None

    instructions: list[Instruction] = []
    in_stage = False
    for statement in parsed.statements:
        try:
            instruction = instruction_of(statement)
        except Refusal as refusal:
            line = statement.start_line
            raise DockerfileError(
                f"dockerfile parse error on line {line}: {refusal.reason}",
                line,
                reason=refusal.reason,
                end_line=statement.end_line,
            ) from None
        # Checked here, statement by statement, so an instruction before
        # FROM is reported before any later instruction's own error.
        in_stage = in_stage or isinstance(instruction, From)
        if not in_stage and not isinstance(instruction, Arg):
            raise no_stage(instruction)
        instructions.append(instruction)
    return Dockerfile(tuple(instructions), parsed.directives, parsed.escape, parsed.warnings)


def parse_trigger(expression: str) -> Instruction:
    """An ONBUILD trigger from a base image, parsed as the classic builder
    does when it fires (errors carry Docker's bare text)."""
    try:
        parsed = parse_statements(expression)
    except LocatedRefusal as refusal:
        raise DockerfileError(refusal.reason, refusal.line, end_line=refusal.end_line) from None
    if len(parsed.statements) != 1:
        raise DockerfileError("onbuild trigger should be a single expression")
    statement = parsed.statements[0]
    try:
        instruction = instruction_of(statement)
    except Refusal as refusal:
        raise DockerfileError(refusal.reason, statement.start_line) from None
    if isinstance(instruction, From):
        raise DockerfileError("*instructions.Stage is not a command type", statement.start_line)
    return instruction
