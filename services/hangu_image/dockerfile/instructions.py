"""Statements into typed instructions, with their flags checked and their
arguments in each instruction's form (buildkit's `instructions` package)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from hangu_image.shellwords import GO_SPACE
from hangu_runtime.gotext import go_quote
from hangu_runtime.timeparse import TimeParseError, parse_duration

from .errors import Refusal
from .model import (
    KNOWN_INSTRUCTIONS,
    Add,
    Arg,
    ArgDefinition,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
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
    StopSignal,
    User,
    Volume,
    Workdir,
)
from .statements import RE_SPACE, Statement, maybe_heredoc_word
from .suggestions import with_suggestion

_ONBUILD_PREFIX = re.compile(rf"^{RE_SPACE}*ONBUILD{RE_SPACE}*", re.IGNORECASE)
_STAGE_NAME = re.compile(r"[a-z][a-z0-9\-_.]*")


# --- statements into typed instructions --------------------------------------

_BOOL, _STRING, _STRINGS = "bool", "string", "strings"
_NO_FLAGS: dict[str, str] = {}
_ADD_FLAGS = {
    "chown": _STRING,
    "chmod": _STRING,
    "link": _BOOL,
    "keep-git-dir": _BOOL,
    "checksum": _STRING,
    "unpack": _BOOL,
    "exclude": _STRINGS,
}
_COPY_FLAGS = {
    "chown": _STRING,
    "from": _STRING,
    "chmod": _STRING,
    "link": _BOOL,
    "exclude": _STRINGS,
    "parents": _BOOL,
}
_RUN_FLAGS = {"device": _STRINGS, "mount": _STRINGS, "network": _STRING, "security": _STRING}
_HEALTHCHECK_FLAGS = dict.fromkeys(
    ("interval", "timeout", "start-period", "start-interval", "retries"), _STRING
)
_RUN_NETWORKS = ("default", "none", "host")
_RUN_SECURITY = ("sandbox", "insecure")

_I = TypeVar("_I", bound=Instruction)


def _make(
    kind: type[_I], statement: Statement, flags: Mapping[str, FlagValue], **fields: Any
) -> _I:
    return kind(
        keyword=statement.keyword.upper(),
        original=statement.original,
        start_line=statement.start_line,
        end_line=statement.end_line,
        flags=dict(flags),
        **fields,
    )


def instruction_of(statement: Statement) -> Instruction:
    builder = _BUILDERS.get(statement.keyword.lower())
    if builder is None:
        raise Refusal(
            with_suggestion(
                f"unknown instruction: {statement.keyword}",
                statement.keyword,
                KNOWN_INSTRUCTIONS,
                case_sensitive=False,
            )
        )
    return builder(statement)


def _parse_flags(tokens: Sequence[str], spec: Mapping[str, str]) -> dict[str, FlagValue]:
    """moby's BFlags.Parse against the flags an instruction defines."""
    used: dict[str, FlagValue] = {}
    for token in tokens:
        if token == "--":
            break
        if not token.startswith("--"):
            raise Refusal(f"arg should start with -- : {token}")
        flag, has_value, value = token.partition("=")
        name = flag[2:]
        kind = spec.get(name)
        if kind is None:
            raise Refusal(
                with_suggestion(f"unknown flag: {flag}", name, sorted(spec), case_sensitive=True)
            )
        if name in used and kind != _STRINGS:
            raise Refusal(f"duplicate flag specified: {flag}")
        if kind == _BOOL:
            if has_value and not value:
                raise Refusal(f"missing a value on flag: {flag}")
            if value.lower() not in ("true", "false", ""):
                raise Refusal(f"expecting boolean value for flag {flag}, not: {value}")
            used[name] = value.lower() != "false"
            continue
        if not has_value:
            raise Refusal(f"missing a value on flag: {flag}")
        if kind == _STRING:
            used[name] = value
        else:
            previous = used.get(name, ())
            used[name] = (*(previous if isinstance(previous, tuple) else ()), value)
    return used


def _string_flag(flags: Mapping[str, FlagValue], name: str, default: str = "") -> str:
    value = flags.get(name, default)
    return value if isinstance(value, str) else default


def _bool_flag(flags: Mapping[str, FlagValue], name: str) -> bool | None:
    value = flags.get(name)
    return value if isinstance(value, bool) else None


def _strings_flag(flags: Mapping[str, FlagValue], name: str) -> tuple[str, ...]:
    value = flags.get(name, ())
    return value if isinstance(value, tuple) else ()


def _at_least_one(keyword: str) -> Refusal:
    return Refusal(f"{keyword} requires at least one argument")


def _exactly_one(keyword: str) -> Refusal:
    return Refusal(f"{keyword} requires exactly one argument")


def _command_line(statement: Statement) -> tuple[str, ...]:
    if statement.exec_form:
        return tuple(statement.args)
    # Shell form: one string, run with the stage's SHELL.
    return (" ".join(statement.args),) if statement.args else ()


def _key_values(statement: Statement, keyword: str) -> tuple[KeyValue, ...]:
    args = statement.args
    if not args:
        raise _at_least_one(keyword)
    if len(args) % 3:
        raise Refusal(f"Bad input to {keyword}, too many arguments")
    pairs: list[KeyValue] = []
    for i in range(0, len(args), 3):
        if not args[i]:
            raise Refusal(f"{keyword} names can not be blank")
        pairs.append(KeyValue(args[i], args[i + 1], legacy=args[i + 2] == ""))
    return tuple(pairs)


def _env(statement: Statement) -> Env:
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    return _make(Env, statement, flags, pairs=_key_values(statement, "ENV"))


def _label(statement: Statement) -> Label:
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    return _make(Label, statement, flags, pairs=_key_values(statement, "LABEL"))


def _maintainer(statement: Statement) -> Maintainer:
    if len(statement.args) != 1:
        raise _exactly_one("MAINTAINER")
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    return _make(Maintainer, statement, flags, maintainer=statement.args[0])


def _transfer_fields(
    statement: Statement, keyword: str, flags: Mapping[str, FlagValue]
) -> dict[str, Any]:
    """What ADD and COPY share: sources, destination, inline heredocs and
    the flags both take."""
    *sources, dest = statement.args
    if maybe_heredoc_word(dest) is not None:
        raise Refusal(f"{keyword} cannot accept a heredoc as a destination")
    bodies = {heredoc.name: heredoc for heredoc in statement.heredocs}
    paths: list[str] = []
    inline: list[Heredoc] = []
    for source in sources:
        word = maybe_heredoc_word(source)
        if word is None:
            paths.append(source)
            continue
        body = bodies.get(word.name)
        content = body.content if body is not None else ""
        inline.append(Heredoc(word.name, content, word.expand, word.chomp, word.fd))
    return {
        "sources": tuple(paths),
        "dest": dest,
        "source_heredocs": tuple(inline),
        "exec_form": statement.exec_form,
        "chown": _string_flag(flags, "chown"),
        "chmod": _string_flag(flags, "chmod"),
        "link": bool(_bool_flag(flags, "link")),
        "exclude": _strings_flag(flags, "exclude"),
    }


def _no_destination(keyword: str) -> Refusal:
    return Refusal(
        f"{keyword} requires at least two arguments, but only one was provided. "
        "Destination could not be determined"
    )


def _add(statement: Statement) -> Add:
    if len(statement.args) < 2:
        raise _no_destination("ADD")
    flags = _parse_flags(statement.flags, _ADD_FLAGS)
    return _make(
        Add,
        statement,
        flags,
        **_transfer_fields(statement, "ADD", flags),
        checksum=_string_flag(flags, "checksum"),
        keep_git_dir=_bool_flag(flags, "keep-git-dir"),
        unpack=_bool_flag(flags, "unpack"),
    )


def _copy(statement: Statement) -> Copy:
    if len(statement.args) < 2:
        raise _no_destination("COPY")
    flags = _parse_flags(statement.flags, _COPY_FLAGS)
    return _make(
        Copy,
        statement,
        flags,
        **_transfer_fields(statement, "COPY", flags),
        from_stage=_string_flag(flags, "from"),
        parents=bool(_bool_flag(flags, "parents")),
    )


def _from(statement: Statement) -> From:
    args = statement.args
    stage_name = ""
    if len(args) == 3 and args[1].casefold() == "as":
        stage_name = args[2].lower()
        if not _STAGE_NAME.fullmatch(stage_name):
            raise Refusal(
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise Refusal("FROM requires either one or three arguments")
    flags = _parse_flags(statement.flags, {"platform": _STRING})
    return _make(
        From,
        statement,
        flags,
        base_name=args[0],
        stage_name=stage_name,
        platform=_string_flag(flags, "platform"),
    )


def _onbuild(statement: Statement) -> Onbuild:
    if not statement.args:
        raise _at_least_one("ONBUILD")
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    trigger = statement.args[0].strip(GO_SPACE).upper()
    if trigger == "ONBUILD":
        raise Refusal("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise Refusal(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", statement.original, count=1)
    # A trigger's heredocs travel with it, bodies and terminators included.
    for heredoc in statement.heredocs:
        expression += "\n" + heredoc.content + heredoc.name
    return _make(Onbuild, statement, flags, trigger=trigger, expression=expression)


def _workdir(statement: Statement) -> Workdir:
    if len(statement.args) != 1:
        raise _exactly_one("WORKDIR")
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    return _make(Workdir, statement, flags, path=statement.args[0])


def _run(statement: Statement) -> Run:
    flags = _parse_flags(statement.flags, _RUN_FLAGS)
    network = _string_flag(flags, "network", "default")
    if network not in _RUN_NETWORKS:
        raise Refusal(f"invalid network mode {go_quote(network)}")
    security = _string_flag(flags, "security", "sandbox")
    if security not in _RUN_SECURITY:
        raise Refusal(f"security {go_quote(security)} is not valid")
    return _make(
        Run,
        statement,
        flags,
        command=_command_line(statement),
        exec_form=statement.exec_form,
        heredocs=tuple(statement.heredocs),
        mounts=_strings_flag(flags, "mount"),
        network=network,
        security=security,
        devices=_strings_flag(flags, "device"),
    )


def _cmd(statement: Statement) -> Cmd:
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    return _make(
        Cmd, statement, flags, command=_command_line(statement), exec_form=statement.exec_form
    )


def _entrypoint(statement: Statement) -> Entrypoint:
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    return _make(
        Entrypoint,
        statement,
        flags,
        command=_command_line(statement),
        exec_form=statement.exec_form,
    )


def _shell(statement: Statement) -> Shell:
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    shell = _command_line(statement)
    if not shell:
        raise _at_least_one("SHELL")
    if not statement.exec_form:
        raise Refusal("SHELL requires the arguments to be in JSON form")
    return _make(Shell, statement, flags, shell=shell)


def _expose(statement: Statement) -> Expose:
    if not statement.args:
        raise _at_least_one("EXPOSE")
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    return _make(Expose, statement, flags, ports=tuple(sorted(statement.args)))


def _user(statement: Statement) -> User:
    if len(statement.args) != 1:
        raise _exactly_one("USER")
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    return _make(User, statement, flags, user=statement.args[0])


def _volume(statement: Statement) -> Volume:
    if not statement.args:
        raise _at_least_one("VOLUME")
    flags = _parse_flags(statement.flags, _NO_FLAGS)
    volumes = tuple(volume.strip(GO_SPACE) for volume in statement.args)
    if "" in volumes:
        raise Refusal("VOLUME specified can not be an empty string")
    return _make(Volume, statement, flags, volumes=volumes)


def _stopsignal(statement: Statement) -> StopSignal:
    # Docker never checks STOPSIGNAL's flags.
    if len(statement.args) != 1:
        raise _exactly_one("STOPSIGNAL")
    return _make(StopSignal, statement, {}, signal=statement.args[0])


def _arg(statement: Statement) -> Arg:
    # Nor ARG's.
    if not statement.args:
        raise _at_least_one("ARG")
    definitions: list[ArgDefinition] = []
    for word in statement.args:
        name, has_default, default = word.partition("=")
        if has_default and not name:
            raise Refusal("ARG names can not be blank")
        definitions.append(ArgDefinition(name, default if has_default else None))
    return _make(Arg, statement, {}, args=tuple(definitions))


def _healthcheck(statement: Statement) -> Healthcheck:
    if not statement.args:
        raise _at_least_one("HEALTHCHECK")
    kind, rest = statement.args[0].upper(), statement.args[1:]
    if kind == "NONE":
        # Docker ignores any flags given to HEALTHCHECK NONE.
        if rest:
            raise Refusal("HEALTHCHECK NONE takes no arguments")
        return _make(Healthcheck, statement, {}, test=("NONE",))
    flags = _parse_flags(statement.flags, _HEALTHCHECK_FLAGS)
    if kind != "CMD":
        raise Refusal(f"Unknown type {go_quote(kind)} in HEALTHCHECK (try CMD)")
    command = tuple(rest) if statement.exec_form else ((" ".join(rest),) if rest else ())
    if not command:
        raise Refusal("Missing command after HEALTHCHECK CMD")
    test = ("CMD" if statement.exec_form else "CMD-SHELL", *command)
    return _make(
        Healthcheck,
        statement,
        flags,
        test=test,
        interval=_interval(flags, "interval"),
        timeout=_interval(flags, "timeout"),
        start_period=_interval(flags, "start-period"),
        start_interval=_interval(flags, "start-interval"),
        retries=_retries(_string_flag(flags, "retries")),
    )


def _interval(flags: Mapping[str, FlagValue], name: str) -> int:
    text = _string_flag(flags, name)
    if not text:
        return 0
    try:
        duration = parse_duration(text)
    except TimeParseError as err:
        raise Refusal(str(err)) from None
    if duration == 0:
        return 0
    if duration < 1_000_000:  # a millisecond
        raise Refusal(f"Interval {go_quote(name)} cannot be less than 1ms")
    return duration


def _retries(text: str) -> int:
    if not text:
        return 0
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        raise Refusal(f"strconv.ParseInt: parsing {go_quote(text)}: invalid syntax")
    retries = int(text)
    if not -(2**31) <= retries < 2**31:
        raise Refusal(f"strconv.ParseInt: parsing {go_quote(text)}: value out of range")
    if retries < 0:
        raise Refusal(f"--retries cannot be negative ({retries})")
    return retries


_BUILDERS: dict[str, Callable[[Statement], Instruction]] = {
    "add": _add,
    "arg": _arg,
    "cmd": _cmd,
    "copy": _copy,
    "entrypoint": _entrypoint,
    "env": _env,
    "expose": _expose,
    "from": _from,
    "healthcheck": _healthcheck,
    "label": _label,
    "maintainer": _maintainer,
    "onbuild": _onbuild,
    "run": _run,
    "shell": _shell,
    "stopsignal": _stopsignal,
    "user": _user,
    "volume": _volume,
    "workdir": _workdir,
}
