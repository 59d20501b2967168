"""The instructions that only change the image config (ENV, LABEL, CMD,
EXPOSE...): each edits the stage's container config and says the comment
dockerd writes for it into the history (`ENV A=1`, `CMD ["sh"]`)."""

from __future__ import annotations

import posixpath
import re
import signal
from typing import Any

from hangu_runtime.errors import InvalidArgument

from .. import dockerfile as df
from .godisplay import duration, plain_list, quoted_list, quoted_rune
from .imageconfig import shell_of
from .state import StageState

# The flag of the LABEL steps the build's own labels make: taken as given.
NO_EXPANSION = "hangu-no-expansion"
_PORT = re.compile(r"^(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


class Comment:
    """What a metadata step commits: its history comment; `joined` for the
    instructions dockerd writes as one `#(nop) X` word (WORKDIR)."""

    def __init__(self, text: str, joined: bool = False) -> None:
        self.text = text
        self.joined = joined


def _set_env(config: dict[str, Any], key: str, value: str) -> None:
    env = list(config.get("Env") or [])
    for i, item in enumerate(env):
        if item.split("=", 1)[0] == key:
            env[i] = f"{key}={value}"
            break
    else:
        env.append(f"{key}={value}")
    config["Env"] = env


def _pairs(state: StageState, pairs: tuple[df.KeyValue, ...]) -> list[tuple[str, str]]:
    return [(state.expand(p.key), state.expand(p.value)) for p in pairs]


def _command(state: StageState, ins: df.CommandInstruction) -> list[str]:
    if ins.exec_form:
        return list(ins.command)
    return shell_of(state.config) + list(ins.command)


def _ports(state: StageState, raw: tuple[str, ...]) -> tuple[list[str], dict[str, Any]]:
    words: list[str] = []
    for port in raw:
        words.extend(state.expand_words(port))
    exposed: dict[str, Any] = {}
    for word in words:
        match = _PORT.match(word)
        if not match:
            raise InvalidArgument(f"invalid containerPort: {word.split('/')[0]}")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        proto = (match.group(3) or "tcp").lower()
        if last < first:
            raise InvalidArgument(f"invalid range specified for port: {word}")
        for number in range(first, last + 1):
            exposed[f"{number}/{proto}"] = {}
    return sorted(words), exposed


def _signal(text: str) -> str:
    if text.isdigit() and 0 < int(text) <= 64:
        return text
    name = text.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    if not hasattr(signal.Signals, name) and not re.match(r"^SIGRTM(IN|AX)([+-]\d+)?$", name):
        raise InvalidArgument(f"Invalid signal: {text}")
    return text


def _healthcheck(ins: df.Healthcheck) -> tuple[dict[str, Any], str]:
    if ins.test == ("NONE",):
        return {"Test": ["NONE"]}, quoted_list(["NONE"])
    check: dict[str, Any] = {"Test": list(ins.test)}
    for key, value in (
        ("Interval", ins.interval),
        ("Timeout", ins.timeout),
        ("StartPeriod", ins.start_period),
        ("StartInterval", ins.start_interval),
    ):
        if value:
            check[key] = value
    if ins.retries:
        check["Retries"] = ins.retries
    shown = " ".join(
        [quoted_list(list(ins.test))]
        + [
            f'"{duration(v)}"'
            for v in (ins.interval, ins.timeout, ins.start_period, ins.start_interval)
        ]
        + [quoted_rune(ins.retries)]
    )
    return check, "&{" + shown + "}"


def apply(state: StageState, ins: df.Instruction) -> Comment:
    """Edit the stage's config for a metadata instruction; its comment."""
    cfg = state.config
    if isinstance(ins, df.Env):
        pairs = _pairs(state, ins.pairs)
        for key, value in pairs:
            _set_env(cfg, key, value)
        return Comment("ENV " + " ".join(f"{k}={v}" for k, v in pairs))
    if isinstance(ins, df.Label):
        if ins.flags.get(NO_EXPANSION):
            pairs = [(p.key, p.value) for p in ins.pairs]
        else:
            pairs = _pairs(state, ins.pairs)
        labels = dict(cfg.get("Labels") or {})
        labels.update(pairs)
        cfg["Labels"] = labels
        return Comment("LABEL " + " ".join(f"{k}={v}" for k, v in pairs))
    if isinstance(ins, df.Maintainer):
        state.author = ins.maintainer
        return Comment("MAINTAINER " + ins.maintainer)
    if isinstance(ins, df.Expose):
        shown, exposed = _ports(state, ins.ports)
        cfg["ExposedPorts"] = {**(cfg.get("ExposedPorts") or {}), **exposed}
        return Comment("EXPOSE " + " ".join(shown))
    if isinstance(ins, df.User):
        cfg["User"] = state.expand(ins.user)
        return Comment("USER " + cfg["User"])
    if isinstance(ins, df.Workdir):
        path = state.expand(ins.path)
        if not posixpath.isabs(path):
            path = posixpath.join(cfg.get("WorkingDir") or "/", path)
        cfg["WorkingDir"] = posixpath.normpath(path)
        return Comment("WORKDIR " + cfg["WorkingDir"], joined=True)
    if isinstance(ins, df.Volume):
        volumes = dict(cfg.get("Volumes") or {})
        added: list[str] = []
        for raw in ins.volumes:
            path = state.expand(raw).strip()
            if not path:
                raise InvalidArgument("VOLUME specified can not be an empty string")
            volumes[path] = {}
            added.append(path)
        cfg["Volumes"] = volumes
        return Comment("VOLUME " + plain_list(added))
    if isinstance(ins, df.StopSignal):
        cfg["StopSignal"] = _signal(state.expand(ins.signal))
        return Comment("STOPSIGNAL " + cfg["StopSignal"])
    if isinstance(ins, df.Cmd):
        cfg["Cmd"] = _command(state, ins)
        state.cmd_set = True
        return Comment("CMD " + quoted_list(cfg["Cmd"]))
    if isinstance(ins, df.Entrypoint):
        cfg["Entrypoint"] = _command(state, ins)
        # An ENTRYPOINT drops an inherited CMD, not one of this stage.
        if not state.cmd_set:
            cfg["Cmd"] = None
        return Comment("ENTRYPOINT " + quoted_list(cfg["Entrypoint"]))
    if isinstance(ins, df.Shell):
        cfg["Shell"] = list(ins.shell)
        return Comment("SHELL " + plain_list(cfg["Shell"]))
    if isinstance(ins, df.Healthcheck):
        cfg["Healthcheck"], check_text = _healthcheck(ins)
        return Comment("HEALTHCHECK " + check_text)
    if isinstance(ins, df.Onbuild):
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [ins.expression]
        return Comment("ONBUILD " + ins.expression)
    if isinstance(ins, df.Arg):
        declared: list[str] = []
        for arg in ins.args:
            default = state.expand(arg.default) if arg.default is not None else None
            state.args.declare(arg.name, default)
            declared.append(arg.name if arg.default is None else f"{arg.name}={default}")
        return Comment("ARG " + " ".join(declared))
    raise InvalidArgument(f"unsupported instruction {ins.keyword}")
