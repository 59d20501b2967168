"""Dockerfile parsing, checked against the Dockerfile reference's examples
and the answers of moby's parser (its test fixtures and error texts)."""

from __future__ import annotations

import pytest

from hangu_image.dockerfile import (
    Add,
    Arg,
    ArgDefinition,
    Cmd,
    Copy,
    DockerfileError,
    Entrypoint,
    Env,
    Expose,
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
    parse,
    parse_trigger,
    split_stages,
)
from hangu_image.shellwords import process_word


def instructions(text: str) -> list[Instruction]:
    return list(parse(text).instructions)


def after_from(text: str) -> Instruction:
    """The one instruction `text` holds, parsed inside a stage."""
    parsed = instructions("FROM scratch\n" + text)
    assert len(parsed) == 2
    return parsed[1]


def error_of(text: str, name: str = "Dockerfile") -> DockerfileError:
    with pytest.raises(DockerfileError) as caught:
        parse(text, name)
    return caught.value


def originals(text: str) -> list[str]:
    return [instruction.original for instruction in parse(text).instructions]


# --- directives --------------------------------------------------------------


@pytest.mark.parametrize(
    "text,directives,escape",
    [
        ("# escape=`\n\nFROM image\n", {"escape": "`"}, "`"),
        ("# escape=\\\nFROM image\n", {"escape": "\\"}, "\\"),
        ("# syntax=docker/dockerfile:1\nFROM image\n", {"syntax": "docker/dockerfile:1"}, "\\"),
        (
            "# syntax = docker/dockerfile\n# escape = `\n\nFROM `\n    image\n",
            {"syntax": "docker/dockerfile", "escape": "`"},
            "`",
        ),
        (
            "# check=skip=JSONArgsRecommended;error=true\nFROM image\n",
            {"check": "skip=JSONArgsRecommended;error=true"},
            "\\",
        ),
        # Keys are case-insensitive; blanks around them are fine.
        ("#\t  EsCaPe=`\nFROM image\n", {"escape": "`"}, "`"),
        ("#escape =`\nFROM image\n", {"escape": "`"}, "`"),
        ("# ESCAPE=\\\n\n\nFROM image\n", {"escape": "\\"}, "\\"),
        # Only the leading run of directives counts.
        ("# About my dockerfile\n# escape=`\nFROM image\n", {}, "\\"),
        ("# unknowndirective=value\n# syntax=value\nFROM image\n", {}, "\\"),
        ("\n# escape=`\nFROM image\n", {}, "\\"),
        ("FROM image\n# escape=`\n", {}, "\\"),
    ],
)
def test_directives(text: str, directives: dict[str, str], escape: str) -> None:
    parsed = parse(text)
    assert dict(parsed.directives) == directives
    assert parsed.escape == escape


@pytest.mark.parametrize(
    "text,reason,line",
    [
        (
            "# escape=`\n# escape=\\\nFROM image\n",
            "only one escape parser directive can be used",
            2,
        ),
        ("# syntax=a\n# SYNTAX=b\nFROM image\n", "only one syntax parser directive can be used", 2),
        ("# escape=x\nFROM image\n", "invalid escape token 'x' does not match ` or \\", 1),
        # The reference: directives can't continue, so `tive=value` is an instruction.
        ("# direc \\\ntive=value\nFROM image\n", "unknown instruction: tive=value", 2),
    ],
)
def test_directive_errors(text: str, reason: str, line: int) -> None:
    error = error_of(text)
    assert error.reason == reason
    assert error.message.endswith(": " + reason)
    assert error.line == line


def test_escape_directive_reference_example() -> None:
    # With the backtick escape, `c:\` ends in a path, not a continuation.
    text = "# escape=`\n\nFROM microsoft/nanoserver\nCOPY testfile.txt c:\\\nRUN dir c:\\\n"
    copy, run = instructions(text)[1:]
    assert isinstance(copy, Copy) and copy.sources == ("testfile.txt",) and copy.dest == "c:\\"
    assert isinstance(run, Run) and run.command == ("dir c:\\",)
    # Without it, a lone trailing backslash joins the next line, but an
    # escaped one (`\\`) at the end of a line doesn't.
    text = "FROM microsoft/nanoserver\nCOPY testfile.txt c:\\\\\nRUN dir c:\\\nEXPOSE 80\n"
    assert originals(text)[1:] == ["COPY testfile.txt c:\\\\", "RUN dir c:EXPOSE 80"]
    # The backtick continues lines and escapes in word lists.
    text = "# escape = `\nFROM image\nLABEL maintainer foo@bar.com\nENV GOPATH `\n\\go\n"
    env = instructions(text)[2]
    assert isinstance(env, Env) and env.pairs == (KeyValue("GOPATH", "\\go", legacy=True),)


# --- lines: comments, continuations, whitespace ------------------------------


@pytest.mark.parametrize(
    "body,expected",
    [
        (
            "RUN echo hello\\\n  world\\\n  goodnight  \\\n  moon\\\n  light\\\nning\n",
            "RUN echo hello  world  goodnight    moon  lightning",
        ),
        ("RUN echo hello  \\\n  world\n", "RUN echo hello    world"),
        ("RUN echo hello \\\ngoodbye\\\nfrog\n", "RUN echo hello goodbyefrog"),
        ("RUN echo hello  \\  \nworld\n", "RUN echo hello  world"),
        (
            "RUN echo hi \\\n \\\n world \\\n\\\n good\\\n\\\nnight\n",
            "RUN echo hi   world  goodnight",
        ),
        # Comment lines and empty lines inside a continuation are dropped.
        ("RUN echo hello \\\n# comment\nworld\n", "RUN echo hello world"),
        ("RUN echo hello \\\n    # indented comment\n    world\n", "RUN echo hello     world"),
        (
            "RUN echo hello \\\n# this is a comment\n\n# another\n\nthis is more useful stuff\n",
            "RUN echo hello this is more useful stuff",
        ),
        ("RUN foo \\\n\nbar \\\n\nbaz\n", "RUN foo bar baz"),
        # A continuation may run into the end of the file.
        ("RUN something \\", "RUN something "),
        # Leading whitespace before an instruction is dropped.
        ("        # this is a comment-line\n    RUN echo hello\n", "RUN echo hello"),
        # Whitespace inside arguments is kept.
        ('RUN echo "\\\n     hello\\\n     world"\n', 'RUN echo "     hello     world"'),
        # `#` inside a line is an argument.
        (
            "RUN echo 'we are running some # of cool things'\n",
            "RUN echo 'we are running some # of cool things'",
        ),
    ],
)
def test_continuations(body: str, expected: str) -> None:
    assert originals("FROM scratch\n" + body)[1:] == [expected]


def test_trailing_backslashes() -> None:
    text = (
        "FROM hello-world\n"
        "ENV B another\\\\path\n"
        "ENV C trailing\\\\backslash\\\\\n"
        "ENV D This should not be appended to C\n"
        "ENV E hello\\\n\\\nworld\n"
        "ENV F hello\\\n \\\nworld\n"
    )
    values = [i.pairs[0].value for i in instructions(text)[1:] if isinstance(i, Env)]
    assert values == [
        "another\\\\path",
        "trailing\\\\backslash\\\\",
        "This should not be appended to C",
        "helloworld",
        "hello world",
    ]


def test_line_numbers_and_warnings() -> None:
    text = (
        "# ESCAPE=\\\n\n\n\nFROM brimstone/ubuntu:14.04\n\n\n# TORUN -v /x:/x\n\n\n"
        "ENV GOPATH \\\n/go\n\n\n\n# Install\nRUN apt-get update \\\n\t&& a \\\n\n\n"
        "    && b \\\n\n\t&& c\n\n\n"
    )
    parsed = parse(text)
    lines = [(i.start_line, i.end_line) for i in parsed.instructions]
    assert lines == [(5, 5), (11, 12), (17, 23)]
    assert parsed.warnings == (
        "Empty continuation line found in: RUN apt-get update \t&& a     && b \t&& c",
    )


def test_bom_crlf_and_case() -> None:
    parsed = instructions("\ufefffrom busybox\r\nRun echo hi\r\nworkdir /app\r\n")
    assert [i.keyword for i in parsed] == ["FROM", "RUN", "WORKDIR"]
    assert isinstance(parsed[1], Run) and parsed[1].command == ("echo hi",)
    assert isinstance(parsed[2], Workdir) and parsed[2].path == "/app"


# --- flags -------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,flags,sources",
    [
        ("COPY foo /tmp/", {}, ("foo",)),
        ("COPY --from=build --chown=a:b foo /tmp/", {"from": "build", "chown": "a:b"}, ("foo",)),
        ("COPY --chmod=755 --link foo /tmp/", {"chmod": "755", "link": True}, ("foo",)),
        ("COPY --link=false foo /tmp/", {"link": False}, ("foo",)),
        ("COPY --parents=TRUE foo /tmp/", {"parents": True}, ("foo",)),
        ('COPY --from="my stage" foo /tmp/', {"from": "my stage"}, ("foo",)),
        ("COPY --exclude=*.md --exclude=*.txt . /tmp/", {"exclude": ("*.md", "*.txt")}, (".",)),
        # `--` ends the flags; later `--x` words are arguments.
        ("COPY --link -- --weird /tmp/", {"link": True}, ("--weird",)),
        ("COPY -- foo /tmp/", {}, ("foo",)),
        # Only leading flags count.
        ("COPY foo --from=x /tmp/", {}, ("foo", "--from=x")),
    ],
)
def test_copy_flags(body: str, flags: dict[str, object], sources: tuple[str, ...]) -> None:
    copy = after_from(body)
    assert isinstance(copy, Copy)
    assert dict(copy.flags) == flags
    assert copy.sources == sources
    assert copy.dest == "/tmp/"


def test_typed_flag_fields() -> None:
    copy = after_from("COPY --from=build --chown=1:2 --chmod=644 --link --parents a b /dst/")
    assert isinstance(copy, Copy)
    assert (copy.from_stage, copy.chown, copy.chmod, copy.link, copy.parents) == (
        "build",
        "1:2",
        "644",
        True,
        True,
    )
    add = after_from("ADD --checksum=sha256:abc --keep-git-dir --unpack=false --link src /dst")
    assert isinstance(add, Add)
    assert (add.checksum, add.keep_git_dir, add.unpack, add.link) == (
        "sha256:abc",
        True,
        False,
        True,
    )
    assert isinstance(plain := after_from("ADD src /dst"), Add)
    assert (plain.keep_git_dir, plain.unpack) == (None, None)
    run = after_from(
        "RUN --mount=type=cache,target=/root/.cache --mount=type=tmpfs,target=/t "
        "--network=none --security=insecure --device=x echo hi"
    )
    assert isinstance(run, Run)
    assert run.mounts == ("type=cache,target=/root/.cache", "type=tmpfs,target=/t")
    assert (run.network, run.security, run.devices) == ("none", "insecure", ("x",))
    assert run.command == ("echo hi",)
    default = after_from("RUN echo hi")
    assert isinstance(default, Run) and (default.network, default.security) == (
        "default",
        "sandbox",
    )
    source = instructions("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build\n")[0]
    assert isinstance(source, From)
    assert (source.base_name, source.stage_name, source.platform) == (
        "golang:1.22",
        "build",
        "$BUILDPLATFORM",
    )


@pytest.mark.parametrize(
    "body,reason",
    [
        ("COPY --user=me foo /tmp/", "unknown flag: --user"),
        ("COPY --chowm=me foo /tmp/", "unknown flag: --chowm (did you mean chown?)"),
        ("MAINTAINER --boo joe@example.com", "unknown flag: --boo"),
        ("COPY --from=a --from=b foo /tmp/", "duplicate flag specified: --from"),
        ("COPY --from foo /tmp/", "missing a value on flag: --from"),
        ("COPY --link= foo /tmp/", "missing a value on flag: --link"),
        ("COPY --link=yes foo /tmp/", "expecting boolean value for flag --link, not: yes"),
        ("RUN --network=bridge echo", 'invalid network mode "bridge"'),
        ("RUN --security=strict echo", 'security "strict" is not valid'),
        ("WORKDIR --x=1 /app", "unknown flag: --x"),
    ],
)
def test_flag_errors(body: str, reason: str) -> None:
    error = error_of("FROM scratch\n" + body)
    assert error.reason == reason
    assert error.message == f"dockerfile parse error on line 2: {reason}"
    assert error.line == 2


def test_unchecked_flags() -> None:
    # Docker never validates the flags of STOPSIGNAL, ARG or HEALTHCHECK NONE.
    assert isinstance(after_from("STOPSIGNAL --foo SIGKILL"), StopSignal)
    assert isinstance(after_from("ARG --foo NAME"), Arg)
    assert isinstance(after_from("HEALTHCHECK --foo=1 NONE"), Healthcheck)


# --- each instruction's argument form ----------------------------------------


@pytest.mark.parametrize(
    "body,command,exec_form",
    [
        ('CMD ["echo", "test"]', ("echo", "test"), True),
        ("CMD echo test", ("echo test",), False),
        ('CMD echo "test"', ('echo "test"',), False),
        ('CMD [ \t"a",\t"b"\t]\t', ("a", "b"), True),
        ("CMD []", (), True),
        ('CMD [""]', ("",), True),
        # Not JSON: the text is a shell command as written.
        (
            "CMD ['echo','single quotes are invalid JSON']",
            ("['echo','single quotes are invalid JSON']",),
            False,
        ),
        ('CMD ["echo", "unterminated"', ('["echo", "unterminated"',), False),
        ('CMD "[\\"echo\\", \\"quoted\\"]"', ('"[\\"echo\\", \\"quoted\\"]"',), False),
        (
            'CMD ["abc 123", "\\u2665", "\\" \\\\ \\/ \\n \\t"]',
            ("abc 123", "♥", '" \\ / \n \t'),
            True,
        ),
        ('CMD ["a"] extra', ('["a"] extra',), False),
        ("CMD [NaN]", ("[NaN]",), False),
    ],
)
def test_cmd_forms(body: str, command: tuple[str, ...], exec_form: bool) -> None:
    cmd = after_from(body)
    assert isinstance(cmd, Cmd)
    assert (cmd.command, cmd.exec_form) == (command, exec_form)


def test_run_entrypoint_shell() -> None:
    run = after_from('RUN ["ls", "-la"]')
    assert isinstance(run, Run) and (run.command, run.exec_form) == (("ls", "-la"), True)
    # The shell form keeps quotes and escapes: the shell sees them, not the builder.
    run = after_from('RUN apt-get \\update && \\\n  apt-get \\"install znc -y')
    assert isinstance(run, Run) and run.command == (
        'apt-get \\update &&   apt-get \\"install znc -y',
    )
    entry = after_from('ENTRYPOINT [ "/usr/bin/redis-server" ]')
    assert isinstance(entry, Entrypoint) and entry.command == ("/usr/bin/redis-server",)
    entry = after_from("ENTRYPOINT exec top -b")
    assert isinstance(entry, Entrypoint) and (entry.command, entry.exec_form) == (
        ("exec top -b",),
        False,
    )
    shell = after_from('SHELL ["powershell", "-command"]')
    assert isinstance(shell, Shell) and shell.shell == ("powershell", "-command")


@pytest.mark.parametrize(
    "body,pairs",
    [
        ("ENV name value", [KeyValue("name", "value", legacy=True)]),
        ("ENV SCUBA 1 DUBA 3", [KeyValue("SCUBA", "1 DUBA 3", legacy=True)]),
        ('ENV SCUBA "1 DUBA 3"', [KeyValue("SCUBA", '"1 DUBA 3"', legacy=True)]),
        # The reference: the legacy form sets one variable to the rest.
        ("ENV ONE TWO= THREE=world", [KeyValue("ONE", "TWO= THREE=world", legacy=True)]),
        ("ENV name=value", [KeyValue("name", "value")]),
        ("ENV name=value name2=value2", [KeyValue("name", "value"), KeyValue("name2", "value2")]),
        ('ENV name="value value1"', [KeyValue("name", '"value value1"')]),
        ("ENV name=value\\ value2", [KeyValue("name", "value\\ value2")]),
        (
            "ENV name=\"value'quote space'value2\"",
            [KeyValue("name", "\"value'quote space'value2\"")],
        ),
        (
            "ENV name='value\"double quote\"value2'",
            [KeyValue("name", "'value\"double quote\"value2'")],
        ),
        ('ENV name="a\\"b"', [KeyValue("name", '"a\\"b"')]),
        ("ENV name='a\\'b''", [KeyValue("name", "'a\\'b''")]),
        ("ENV name=", [KeyValue("name", "")]),
        (
            'ENV name=value \\\n    name1=value1 \\\n    name2="value2a \\\n           value2b"',
            [
                KeyValue("name", "value"),
                KeyValue("name1", "value1"),
                KeyValue("name2", '"value2a            value2b"'),
            ],
        ),
        # The reference's examples.
        (
            'ENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog \\\n    MY_CAT=fluffy',
            [
                KeyValue("MY_NAME", '"John Doe"'),
                KeyValue("MY_DOG", "Rex\\ The\\ Dog"),
                KeyValue("MY_CAT", "fluffy"),
            ],
        ),
    ],
)
def test_env(body: str, pairs: list[KeyValue]) -> None:
    env = after_from(body)
    assert isinstance(env, Env)
    assert list(env.pairs) == pairs


def test_env_values_expand_like_docker() -> None:
    # The builder expands each value with shellwords, quotes removed; the
    # reference's ENV example gives "John Doe" and "Rex The Dog".
    env = after_from('ENV MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog MY_CAT=fluffy')
    assert isinstance(env, Env)
    assert [(p.key, process_word(p.value, {})) for p in env.pairs] == [
        ("MY_NAME", "John Doe"),
        ("MY_DOG", "Rex The Dog"),
        ("MY_CAT", "fluffy"),
    ]
    # Substitution uses the values from before the instruction.
    known: dict[str, str] = {}
    for line in ("ENV abc=hello", "ENV abc=bye def=$abc", "ENV ghi=$abc"):
        env = after_from(line)
        assert isinstance(env, Env)
        known |= {p.key: process_word(p.value, known) for p in env.pairs}
    assert known == {"abc": "bye", "def": "hello", "ghi": "bye"}


@pytest.mark.parametrize(
    "body,pairs",
    [
        (
            'LABEL "com.example.vendor"="ACME Incorporated"',
            [KeyValue('"com.example.vendor"', '"ACME Incorporated"')],
        ),
        (
            'LABEL com.example.label-with-value="foo"',
            [KeyValue("com.example.label-with-value", '"foo"')],
        ),
        ('LABEL version="1.0"', [KeyValue("version", '"1.0"')]),
        (
            'LABEL description="This text illustrates \\\n'
            'that label-values can span multiple lines."',
            [
                KeyValue(
                    "description",
                    '"This text illustrates that label-values can span multiple lines."',
                )
            ],
        ),
        (
            'LABEL multi.label1="value1" multi.label2="value2" other="value3"',
            [
                KeyValue("multi.label1", '"value1"'),
                KeyValue("multi.label2", '"value2"'),
                KeyValue("other", '"value3"'),
            ],
        ),
        (
            'LABEL maintainer James Turnbull "james@example.com"',
            [KeyValue("maintainer", 'James Turnbull "james@example.com"', legacy=True)],
        ),
    ],
)
def test_label(body: str, pairs: list[KeyValue]) -> None:
    label = after_from(body)
    assert isinstance(label, Label)
    assert list(label.pairs) == pairs


def test_label_values_expand_like_docker() -> None:
    label = after_from('LABEL "com.example.vendor"="ACME Incorporated"')
    assert isinstance(label, Label)
    pair = label.pairs[0]
    assert (process_word(pair.key, {}), process_word(pair.value, {})) == (
        "com.example.vendor",
        "ACME Incorporated",
    )


@pytest.mark.parametrize(
    "body,args",
    [
        ("ARG user1", [ArgDefinition("user1")]),
        ("ARG buildno=1", [ArgDefinition("buildno", "1")]),
        ("ARG empty=", [ArgDefinition("empty", "")]),
        ('ARG abc="123 456" def', [ArgDefinition("abc", '"123 456"'), ArgDefinition("def")]),
        ("ARG foo bar=baz", [ArgDefinition("foo"), ArgDefinition("bar", "baz")]),
    ],
)
def test_arg(body: str, args: list[ArgDefinition]) -> None:
    arg = after_from(body)
    assert isinstance(arg, Arg)
    assert list(arg.args) == args


@pytest.mark.parametrize(
    "body,base,stage",
    [
        ("FROM busybox", "busybox", ""),
        ("FROM ubuntu:14.04", "ubuntu:14.04", ""),
        ("FROM alpine@sha256:abc AS builder", "alpine@sha256:abc", "builder"),
        ("from base as Dev", "base", "dev"),
        ("FROM\tubuntu:14.04", "ubuntu:14.04", ""),
        ("FROM ${BASE:-alpine} AS a.b_c-1", "${BASE:-alpine}", "a.b_c-1"),
    ],
)
def test_from(body: str, base: str, stage: str) -> None:
    source = instructions(body)[0]
    assert isinstance(source, From)
    assert (source.base_name, source.stage_name) == (base, stage)


@pytest.mark.parametrize(
    "body,kind,field,value",
    [
        ("EXPOSE 3000", Expose, "ports", ("3000",)),
        ("EXPOSE 9000 5000 6000", Expose, "ports", ("5000", "6000", "9000")),
        ("EXPOSE 80/udp 80/tcp", Expose, "ports", ("80/tcp", "80/udp")),
        ("USER docker", User, "user", "docker"),
        ("USER docker:root", User, "user", "docker:root"),
        ("WORKDIR /test", Workdir, "path", "/test"),
        ("WORKDIR ${FOO}", Workdir, "path", "${FOO}"),
        ("WORKDIR /path with spaces", Workdir, "path", "/path with spaces"),
        ("STOPSIGNAL SIGKILL", StopSignal, "signal", "SIGKILL"),
        ("STOPSIGNAL 9", StopSignal, "signal", "9"),
        (
            'MAINTAINER Erik \\\\Hollensbe <erik@hollensbe.org>\\"',
            Maintainer,
            "maintainer",
            'Erik \\\\Hollensbe <erik@hollensbe.org>\\"',
        ),
        ('VOLUME ["/test"]', Volume, "volumes", ("/test",)),
        ('VOLUME ["/test", "/test2"]', Volume, "volumes", ("/test", "/test2")),
        ("VOLUME /test3", Volume, "volumes", ("/test3",)),
        ("VOLUME /var/log /var/db", Volume, "volumes", ("/var/log", "/var/db")),
    ],
)
def test_simple_instructions(body: str, kind: type[Instruction], field: str, value: object) -> None:
    instruction = after_from(body)
    assert isinstance(instruction, kind)
    assert getattr(instruction, field) == value


@pytest.mark.parametrize(
    "body,sources,dest,exec_form",
    [
        (
            "COPY . /go/src/github.com/docker/docker",
            (".",),
            "/go/src/github.com/docker/docker",
            False,
        ),
        ("ADD\t\t.\t/", (".",), "/", False),
        ('ADD [ "vimrc", "/tmp" ]', ("vimrc",), "/tmp", True),
        ('COPY [ "test file", "/tmp" ]', ("test file",), "/tmp", True),
        ('ADD [ "test file", "/tmp/test file" ]', ("test file",), "/tmp/test file", True),
        ("COPY a b c /dest/", ("a", "b", "c"), "/dest/", False),
        ('ADD \\conf\\\\" /.znc', ('\\conf\\\\"',), "/.znc", False),
    ],
)
def test_add_copy(body: str, sources: tuple[str, ...], dest: str, exec_form: bool) -> None:
    transfer = after_from(body)
    assert isinstance(transfer, (Add, Copy))
    assert (transfer.sources, transfer.dest, transfer.exec_form) == (sources, dest, exec_form)


def test_onbuild() -> None:
    triggers = instructions(
        "FROM busybox\n"
        'ONBUILD RUN ["echo", "test"]\n'
        "ONBUILD RUN echo test\n"
        "  onbuild ADD . /app/src\n"
        "ONBUILD COPY --from=build /usr/bin/app /app\n"
    )[1:]
    assert all(isinstance(t, Onbuild) for t in triggers)
    assert [(t.trigger, t.expression) for t in triggers if isinstance(t, Onbuild)] == [
        ("RUN", 'RUN ["echo", "test"]'),
        ("RUN", "RUN echo test"),
        ("ADD", "ADD . /app/src"),
        ("COPY", "COPY --from=build /usr/bin/app /app"),
    ]
    # The trigger is parsed when it fires, from the stored expression.
    fired = parse_trigger("COPY --from=build /usr/bin/app /app")
    assert isinstance(fired, Copy) and fired.from_stage == "build"
    with pytest.raises(DockerfileError) as caught:
        parse_trigger("FOOBAR x")
    assert caught.value.message == "unknown instruction: FOOBAR"
    with pytest.raises(DockerfileError) as caught:
        parse_trigger("RUN a\nRUN b")
    assert caught.value.message == "onbuild trigger should be a single expression"


@pytest.mark.parametrize(
    "body,test,options",
    [
        ("HEALTHCHECK NONE", ("NONE",), (0, 0, 0, 0, 0)),
        ("HEALTHCHECK none", ("NONE",), (0, 0, 0, 0, 0)),
        (
            "HEALTHCHECK --interval=5m --timeout=3s \\\n  CMD curl -f http://localhost/ || exit 1",
            ("CMD-SHELL", "curl -f http://localhost/ || exit 1"),
            (300_000_000_000, 3_000_000_000, 0, 0, 0),
        ),
        ('HEALTHCHECK --timeout=3s CMD ["foo"]', ("CMD", "foo"), (0, 3_000_000_000, 0, 0, 0)),
        ("HEALTHCHECK   CMD   a b", ("CMD-SHELL", "a b"), (0, 0, 0, 0, 0)),
        (
            "HEALTHCHECK --start-period=1m30s --start-interval=1.5s --interval=100ms --retries=3 "
            "cmd /bin/check",
            ("CMD-SHELL", "/bin/check"),
            (100_000_000, 0, 90_000_000_000, 1_500_000_000, 3),
        ),
        (
            "HEALTHCHECK --start-period=0s --start-interval=0s --interval=5s --timeout=0s "
            '--retries=0 CMD ["foo"]',
            ("CMD", "foo"),
            (5_000_000_000, 0, 0, 0, 0),
        ),
    ],
)
def test_healthcheck(body: str, test: tuple[str, ...], options: tuple[int, ...]) -> None:
    check = after_from(body)
    assert isinstance(check, Healthcheck)
    assert check.test == test
    got = (check.interval, check.timeout, check.start_period, check.start_interval, check.retries)
    assert got == options


# --- heredocs ----------------------------------------------------------------


def test_heredocs() -> None:
    text = (
        "FROM debian\n"
        "RUN <<EOT bash\n  set -ex\n  apt-get update\nEOT\n"
        "RUN <<-UNINDENT\n\tbaz\n\tquux\n\tUNINDENT\n"
        "RUN 3<<'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n"
        "RUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\n"
        'COPY <<-EOT /script.sh\n  echo "hello ${FOO}"\nEOT\n'
        'COPY <<-"EOT" <<two /script.sh\n\techo "hello ${FOO}"\nEOT\n2\ntwo\n'
        'RUN ["<<EOF"]\n'
        "ONBUILD RUN <<EOF\necho hi\nEOF\n"
        'CMD ["sh"]\n'
    )
    parsed = instructions(text)
    assert [i.keyword for i in parsed] == [
        "FROM",
        "RUN",
        "RUN",
        "RUN",
        "RUN",
        "COPY",
        "COPY",
        "RUN",
        "ONBUILD",
        "CMD",
    ]
    run1, run2, run3, run4 = (i for i in parsed[1:5] if isinstance(i, Run))
    assert run1.heredocs == (Heredoc("EOT", "  set -ex\n  apt-get update\n"),)
    assert run1.command == ("<<EOT bash",) and (run1.start_line, run1.end_line) == (2, 5)
    assert run2.heredocs == (Heredoc("UNINDENT", "\tbaz\n\tquux\n", chomp=True),)
    assert run2.heredocs[0].text == "baz\nquux\n"
    assert run3.heredocs == (Heredoc("NOEXPAND", "\tdon't expand $NAME\n", expand=False, fd=3),)
    assert [h.name for h in run4.heredocs] == ["FILE1", "FILE2"]
    assert [h.content for h in run4.heredocs] == ["I am\nfirst\n", "I am\nsecond\n"]
    copy1, copy2 = (i for i in parsed if isinstance(i, Copy))
    assert copy1.sources == () and copy1.dest == "/script.sh"
    assert copy1.source_heredocs == (Heredoc("EOT", '  echo "hello ${FOO}"\n', chomp=True),)
    assert copy2.source_heredocs == (
        Heredoc("EOT", '\techo "hello ${FOO}"\n', expand=False, chomp=True),
        Heredoc("two", "2\n"),
    )
    assert isinstance(parsed[7], Run) and parsed[7].heredocs == () and parsed[7].exec_form
    trigger = parsed[8]
    assert isinstance(trigger, Onbuild) and trigger.expression == "RUN <<EOF\necho hi\nEOF"


@pytest.mark.parametrize(
    "text,reason",
    [
        ("FROM a\nRUN <<EOF\necho hi\n", "unterminated heredoc"),
        (
            "FROM a\nCOPY <<EOF <<DEST\nx\nEOF\ny\nDEST\n",
            "COPY cannot accept a heredoc as a destination",
        ),
    ],
)
def test_heredoc_errors(text: str, reason: str) -> None:
    assert error_of(text).reason == reason


# --- stages ------------------------------------------------------------------


def test_stages_and_meta_args() -> None:
    parsed = parse(
        "ARG VERSION=latest\n"
        "ARG BASE\n"
        "FROM busybox:$VERSION AS Build\n"
        "ARG VERSION\n"
        "RUN echo $VERSION > image_version\n"
        "FROM build AS final\n"
        "COPY --from=build /image_version /\n"
        "FROM scratch\n"
    )
    assert [a.args for a in parsed.meta_args] == [
        (ArgDefinition("VERSION", "latest"),),
        (ArgDefinition("BASE"),),
    ]
    stages = parsed.stages
    assert [(s.index, s.name, s.base_name) for s in stages] == [
        (0, "build", "busybox:$VERSION"),
        (1, "final", "build"),
        (2, "", "scratch"),
    ]
    assert [i.keyword for i in stages[0].instructions] == ["ARG", "RUN"]
    assert [i.keyword for i in stages[1].instructions] == ["COPY"]
    assert stages[2].instructions == ()
    meta, again = split_stages(parsed.instructions)
    assert (meta, again) == (parsed.meta_args, stages)


# --- errors, with Docker's texts ---------------------------------------------


@pytest.mark.parametrize(
    "body,reason",
    [
        # Instruction-level errors: "dockerfile parse error on line N: ...".
        ("FOOBAR x", "unknown instruction: FOOBAR"),
        ("foo bar", "unknown instruction: foo (did you mean from?)"),
        ("FORM busybox", "unknown instruction: FORM (did you mean FROM?)"),
        ("RUNN echo", "unknown instruction: RUNN (did you mean RUN?)"),
        ("FROM", "FROM requires either one or three arguments"),
        ("FROM a AS", "FROM requires either one or three arguments"),
        ("FROM a b c", "FROM requires either one or three arguments"),
        (
            "FROM a AS 1st",
            'invalid name for build stage: "1st", '
            "name can't start with a number or contain symbols",
        ),
        ("ENV", "ENV requires at least one argument"),
        ("LABEL", "LABEL requires at least one argument"),
        ("ENV =value", "ENV names can not be blank"),
        ("LABEL =value", "LABEL names can not be blank"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG =x", "ARG names can not be blank"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("SHELL", "SHELL requires at least one argument"),
        ("SHELL []", "SHELL requires at least one argument"),
        ("SHELL powershell -command", "SHELL requires the arguments to be in JSON form"),
        ("USER", "USER requires exactly one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        (
            "COPY foo",
            "COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined",
        ),
        (
            "ADD foo",
            "ADD requires at least two arguments, but only one was provided. "
            "Destination could not be determined",
        ),
        ('VOLUME [""]', "VOLUME specified can not be an empty string"),
        (
            "ONBUILD ONBUILD RUN touch foobar",
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        ("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
        ("onbuild maintainer me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CMD []", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CONNECT TCP 7000", 'Unknown type "CONNECT" in HEALTHCHECK (try CMD)'),
        ("HEALTHCHECK --interval=10us CMD x", 'Interval "interval" cannot be less than 1ms'),
        ("HEALTHCHECK --timeout=-1s CMD x", 'Interval "timeout" cannot be less than 1ms'),
        ("HEALTHCHECK --interval=abc CMD x", 'time: invalid duration "abc"'),
        ("HEALTHCHECK --interval=5 CMD x", 'time: missing unit in duration "5"'),
        ("HEALTHCHECK --interval=5d CMD x", 'time: unknown unit "d" in duration "5d"'),
        ("HEALTHCHECK --retries=x CMD x", 'strconv.ParseInt: parsing "x": invalid syntax'),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative (-1)"),
    ],
)
def test_instruction_errors(body: str, reason: str) -> None:
    error = error_of("FROM scratch\n\n" + body)
    assert error.reason == reason
    assert error.message == f"dockerfile parse error on line 3: {reason}"
    assert error.line == 3


@pytest.mark.parametrize(
    "text,reason",
    [
        # Syntax errors: "failed to parse <name>: ...".
        ("FROM busybox\n\nENV PATH\n", "ENV must have two arguments"),
        ("FROM busybox\nLABEL foo\n", "LABEL must have two arguments"),
        (
            "FROM busybox\nENV a=b c\n",
            'Syntax error - can\'t find = in "c". Must be of the form: name=value',
        ),
        (
            'FROM busybox\nCMD [ "echo", [ "nested json" ] ]\n',
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
        (
            "FROM busybox\nRUN [1, 2]\n",
            "when using JSON array syntax, arrays must be comprised of strings only",
        ),
        ("# Hello\n# These are just comments\n\n", "file with no instructions"),
        ("\n", "file with no instructions"),
        (
            "FROM busybox\nLABEL test=" + "a" * 65536 + "\n",
            "dockerfile line greater than max allowed size of 65535",
        ),
    ],
)
def test_syntax_errors(text: str, reason: str) -> None:
    error = error_of(text, "sub/Dockerfile.dev")
    assert error.reason == reason
    assert error.message == f"failed to parse sub/Dockerfile.dev: {reason}"


def test_syntax_errors_come_first() -> None:
    # The whole file is split into statements before any is checked.
    assert error_of("FOOBAR\nENV x\n").reason == "ENV must have two arguments"


def test_empty_file_and_missing_stage() -> None:
    assert error_of("").message == "the Dockerfile (Dockerfile) cannot be empty"
    assert error_of("", "Containerfile").message == "the Dockerfile (Containerfile) cannot be empty"
    error = error_of("ARG X\nRUN echo hi\nFOOBAR\n")
    assert (error.message, error.line) == ("no build stage in current context", 2)
    # Checked in order: an unknown instruction before the RUN wins.
    assert error_of("FOOBAR\nRUN echo\n").message == (
        "dockerfile parse error on line 1: unknown instruction: FOOBAR"
    )
    with pytest.raises(DockerfileError, match="no build stage in current context"):
        split_stages([after_from("RUN echo")])
