"""Typed instructions: each instruction's golden form and dockerd v26's parse errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from berthd import errdefs
from berthd.builder.dockerfile.commands import (
    AddCommand,
    ArgCommand,
    CmdCommand,
    Command,
    CopyCommand,
    EntrypointCommand,
    EnvCommand,
    ExposeCommand,
    HealthCheckCommand,
    LabelCommand,
    MaintainerCommand,
    OnbuildCommand,
    RunCommand,
    ShellCommand,
    SourceContent,
    StopSignalCommand,
    UserCommand,
    VolumeCommand,
    WorkdirCommand,
    new_label_command,
)
from berthd.builder.dockerfile.instructions import (
    BUILDKIT_ONLY_CHMOD,
    has_stage,
    parse_dockerfile,
    parse_trigger,
)
from berthd.builder.dockerfile.shell import Lex


def one(line: str) -> Command:
    stages, _, _ = parse_dockerfile(f"FROM scratch\n{line}\n".encode())
    return stages[0].commands[0]


def error(text: str) -> str:
    with pytest.raises(errdefs.InvalidParameter) as err:
        parse_dockerfile(text.encode())
    return str(err.value)


def test_stages_and_meta_args() -> None:
    stages, meta, result = parse_dockerfile(
        b"ARG V=1\nARG B\nFROM --platform=$P busybox:${V} AS Build\nRUN true\nFROM build\nCMD x\n"
    )
    assert [(a.args, a.original, a.line) for a in meta] == [
        ([("V", "1")], "ARG V=1", 1),
        ([("B", None)], "ARG B", 2),
    ]
    assert [(s.name, s.base_name, s.platform, s.original, s.line) for s in stages] == [
        ("build", "busybox:${V}", "$P", "FROM --platform=$P busybox:${V} AS Build", 3),
        ("", "build", "", "FROM build", 5),
    ]
    assert [str(c) for c in stages[0].commands] == ["RUN true"]
    assert has_stage(stages, "BUILD") == 0 and has_stage(stages, "nope") is None
    assert result.escape_token == "\\"


def test_each_instruction() -> None:
    assert one('ENV A=1 B="x y"') == EnvCommand(
        name="env", original='ENV A=1 B="x y"', line=2, end_line=2, env=[("A", "1"), ("B", '"x y"')]
    )
    assert one("ENV A b c") == EnvCommand(
        name="env", original="ENV A b c", line=2, end_line=2, env=[("A", "b c")]
    )
    assert one("LABEL a=b") == LabelCommand(
        name="label", original="LABEL a=b", line=2, end_line=2, labels=[("a", "b")]
    )
    assert one("MAINTAINER me <m@e>") == MaintainerCommand(
        name="maintainer", original="MAINTAINER me <m@e>", line=2, end_line=2, maintainer="me <m@e>"
    )
    assert one("WORKDIR /a b") == WorkdirCommand(
        name="workdir", original="WORKDIR /a b", line=2, end_line=2, path="/a b"
    )
    assert one("USER 1:2") == UserCommand(
        name="user", original="USER 1:2", line=2, end_line=2, user="1:2"
    )
    assert one("STOPSIGNAL --x SIGKILL") == StopSignalCommand(  # STOPSIGNAL ignores flags
        name="stopsignal", original="STOPSIGNAL --x SIGKILL", line=2, end_line=2, signal="SIGKILL"
    )
    assert one("EXPOSE 80 53/udp 443") == ExposeCommand(
        name="expose",
        original="EXPOSE 80 53/udp 443",
        line=2,
        end_line=2,
        ports=["443", "53/udp", "80"],
    )
    assert one('VOLUME ["/a", " /b "]') == VolumeCommand(
        name="volume", original='VOLUME ["/a", " /b "]', line=2, end_line=2, volumes=["/a", "/b"]
    )
    assert one("VOLUME /a /b") == VolumeCommand(
        name="volume", original="VOLUME /a /b", line=2, end_line=2, volumes=["/a", "/b"]
    )
    assert one('SHELL ["/bin/bash", "-c"]') == ShellCommand(
        name="shell",
        original='SHELL ["/bin/bash", "-c"]',
        line=2,
        end_line=2,
        shell=["/bin/bash", "-c"],
    )
    assert one("ARG a b=c d=") == ArgCommand(
        name="arg",
        original="ARG a b=c d=",
        line=2,
        end_line=2,
        args=[("a", None), ("b", "c"), ("d", "")],
    )
    assert one("ONBUILD  run make \\\n  all") == OnbuildCommand(
        name="onbuild",
        original="ONBUILD  run make   all",
        line=2,
        end_line=3,
        expression="run make   all",
    )


def test_shell_dependent_forms() -> None:
    run = one("RUN echo $HOME  there")
    assert isinstance(run, RunCommand)
    assert (run.cmd, run.prepend_shell, run.flags_used) == (["echo $HOME  there"], True, [])
    assert run.resolve(None) == ["/bin/sh", "-c", "echo $HOME  there"]
    assert run.resolve(["bash", "-xc"]) == ["bash", "-xc", "echo $HOME  there"]
    run = one('RUN ["echo", "a b"]')
    assert isinstance(run, RunCommand) and run.cmd == ["echo", "a b"] and not run.prepend_shell
    cmd = one("CMD")
    assert isinstance(cmd, CmdCommand) and cmd.cmd == [] and cmd.resolve(None) == ["/bin/sh", "-c"]
    cmd = one("CMD []")
    assert isinstance(cmd, CmdCommand) and cmd.resolve(None) == []
    ep = one("ENTRYPOINT []")
    assert isinstance(ep, EntrypointCommand) and ep.cmd is None and ep.resolve(None) is None
    ep = one("ENTRYPOINT top -b")
    assert isinstance(ep, EntrypointCommand) and ep.resolve(None) == ["/bin/sh", "-c", "top -b"]


def test_copy_add() -> None:
    cp = one("COPY --from=Build --chown=1:2 --link a b /d/")
    assert isinstance(cp, CopyCommand)
    assert (cp.sources, cp.dest, cp.from_, cp.chown, cp.chmod, cp.link) == (
        ["a", "b"],
        "/d/",
        "Build",
        "1:2",
        "",
        True,
    )
    cp = one("COPY --chmod=755 a /b")
    assert isinstance(cp, CopyCommand) and cp.chmod == "755"  # refused when dispatched
    add = one("ADD --chown=$U --checksum=sha256:x --keep-git-dir=true http://x/y /z")
    assert isinstance(add, AddCommand)
    assert (add.sources, add.dest, add.chown, add.checksum, add.keep_git_dir) == (
        ["http://x/y"],
        "/z",
        "$U",
        "sha256:x",
        True,
    )
    assert BUILDKIT_ONLY_CHMOD.startswith("the --chmod option requires BuildKit. Refer to https://")


def test_copy_heredocs() -> None:
    stages, _, _ = parse_dockerfile(
        b"FROM a\nCOPY <<EOF1 <<-'EOF2' foo.txt /bar\none $X\nEOF1\n\ttwo\nEOF2\n"
    )
    cp = stages[0].commands[0]
    assert isinstance(cp, CopyCommand)
    assert cp.sources == ["foo.txt"] and cp.dest == "/bar"
    assert cp.source_contents == [
        SourceContent(path="EOF1", data="one $X\n", expand=True),
        SourceContent(path="EOF2", data="two\n", expand=False),
    ]
    cp.expand_raw(lambda w: Lex().process_word(w, {"X": "1"}))
    assert cp.source_contents[0].data == "one 1\n"
    stages, _, _ = parse_dockerfile(b"FROM a\nRUN <<EOF\necho hi\nEOF\nONBUILD RUN <<X\nbody\nX\n")
    run, onbuild = stages[0].commands
    assert isinstance(run, RunCommand) and run.cmd == ["<<EOF"] and run.files[0].data == "echo hi\n"
    assert isinstance(onbuild, OnbuildCommand) and onbuild.expression == "RUN <<X\nbody\nX"


def test_healthcheck() -> None:
    hc = one(
        "HEALTHCHECK --interval=1m30s --timeout=3s --start-period=0 --retries=+2 CMD curl -f x"
    )
    assert isinstance(hc, HealthCheckCommand)
    assert hc.test == ["CMD-SHELL", "curl -f x"]
    assert hc.to_config() == {
        "Test": ["CMD-SHELL", "curl -f x"],
        "Interval": 90_000_000_000,
        "Timeout": 3_000_000_000,
        "Retries": 2,
    }
    hc = one('healthcheck cmd ["true"]')
    assert isinstance(hc, HealthCheckCommand) and hc.test == ["CMD", "true"]
    hc = one("HEALTHCHECK --bogus NONE")  # NONE never reads its flags
    assert isinstance(hc, HealthCheckCommand) and hc.to_config() == {"Test": ["NONE"]}


def test_label_option_and_expand() -> None:
    lab = new_label_command("a", "$B")
    assert str(lab) == "LABEL a=$B"
    lab.expand(lambda w: "X")
    assert lab.labels == [("a", "$B")]
    env = one('ENV A="x $B" C=${B:-d}')
    assert isinstance(env, EnvCommand)
    env.expand(lambda w: Lex().process_word(w, {"B": "b"}))
    assert env.env == [("A", "x b"), ("C", "b")]


def test_run_flags() -> None:
    run = one("RUN --mount=type=cache,target=/c --network=none make")
    assert isinstance(run, RunCommand)
    assert run.flags_used == ["mount", "network"] and run.network == "none"
    assert run.buildkit_only_error() == (
        "the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ "
        "to learn how to build images with BuildKit enabled"
    )
    run.expand(lambda w: w)
    assert run.mounts[0].type == "cache" and run.mounts[0].target == "/c"
    bad = one("RUN --mount=type=cahce,target=/c make")  # type is only checked at dispatch
    assert isinstance(bad, RunCommand)
    with pytest.raises(
        errdefs.InvalidParameter, match=r'^unsupported mount type "cahce" \(did you mean cache\?\)$'
    ):
        bad.expand(lambda w: w)


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (
            "FROM a\nFOO bar\n",
            "dockerfile parse error on line 2: unknown instruction: FOO (did you mean FROM?)",
        ),
        (
            "FROM a\nfoo bar\n",
            "dockerfile parse error on line 2: unknown instruction: foo (did you mean from?)",
        ),
        ("FROM a\nECHO hi\n", "dockerfile parse error on line 2: unknown instruction: ECHO"),
        (
            "FROM a\nRUNN x\n",
            "dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)",
        ),
        (
            "FROM a\ncopyy x y\n",
            "dockerfile parse error on line 2: unknown instruction: copyy (did you mean copy?)",
        ),
        ("FROM a\nEcho hi\n", "dockerfile parse error on line 2: unknown instruction: Echo"),
        (
            "FROM a\n\n\nMAINTAINER\n",
            "dockerfile parse error on line 4: MAINTAINER requires exactly one argument",
        ),
        (
            "FROM a\nWORKDIR\n",
            "dockerfile parse error on line 2: WORKDIR requires exactly one argument",
        ),
        ("FROM a\nUSER\n", "dockerfile parse error on line 2: USER requires exactly one argument"),
        (
            "FROM a\nSTOPSIGNAL\n",
            "dockerfile parse error on line 2: STOPSIGNAL requires exactly one argument",
        ),
        ("FROM a\nENV\n", "dockerfile parse error on line 2: ENV requires at least one argument"),
        (
            "FROM a\nLABEL\n",
            "dockerfile parse error on line 2: LABEL requires at least one argument",
        ),
        (
            "FROM a\nONBUILD\n",
            "dockerfile parse error on line 2: ONBUILD requires at least one argument",
        ),
        (
            "FROM a\nHEALTHCHECK\n",
            "dockerfile parse error on line 2: HEALTHCHECK requires at least one argument",
        ),
        (
            "FROM a\nEXPOSE\n",
            "dockerfile parse error on line 2: EXPOSE requires at least one argument",
        ),
        (
            "FROM a\nVOLUME\n",
            "dockerfile parse error on line 2: VOLUME requires at least one argument",
        ),
        ("FROM a\nARG\n", "dockerfile parse error on line 2: ARG requires at least one argument"),
        (
            "FROM a\nSHELL []\n",
            "dockerfile parse error on line 2: SHELL requires at least one argument",
        ),
        (
            "FROM a\nSHELL bash -c\n",
            "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form",
        ),
        ("FROM a\nENV =x\n", "dockerfile parse error on line 2: ENV names can not be blank"),
        ("FROM a\nLABEL =x\n", "dockerfile parse error on line 2: LABEL names can not be blank"),
        ("FROM a\nARG =x\n", "dockerfile parse error on line 2: ARG names can not be blank"),
        (
            'FROM a\nVOLUME [""]\n',
            "dockerfile parse error on line 2: VOLUME specified can not be an empty string",
        ),
        (
            "FROM a\nCOPY x\n",
            "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined",
        ),
        (
            "FROM a\nADD\n",
            "dockerfile parse error on line 2: ADD requires at least two arguments, but only one was provided. "
            "Destination could not be determined",
        ),
        (
            "FROM a\nCOPY\t\n\t\tquux \\\n      bar\n",
            "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. "
            "Destination could not be determined",
        ),
        (
            "FROM a\nCOPY /foo <<EOF\nEOF\n",
            "dockerfile parse error on line 2: COPY cannot accept a heredoc as a destination",
        ),
        (
            "FROM a\nONBUILD FROM scratch\n",
            "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM a\nONBUILD maintainer x\n",
            "dockerfile parse error on line 2: MAINTAINER isn't allowed as an ONBUILD trigger",
        ),
        (
            "FROM a\nONBUILD ONBUILD RUN x\n",
            "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
        ),
        ("FROM a\nMAINTAINER --boo joe\n", "dockerfile parse error on line 2: unknown flag: boo"),
        (
            "FROM a\nCOPY --form=x a b\n",
            "dockerfile parse error on line 2: unknown flag: form (did you mean from?)",
        ),
        ("FROM a\nCOPY --parents a b\n", "dockerfile parse error on line 2: unknown flag: parents"),
        ("FROM a\nADD --from=x a b\n", "dockerfile parse error on line 2: unknown flag: from"),
        (
            "FROM a\nRUN --security=insecure x\n",
            "dockerfile parse error on line 2: unknown flag: security",
        ),
        (
            "FROM a\nCOPY --from=a --from=b x y\n",
            "dockerfile parse error on line 2: duplicate flag specified: from",
        ),
        (
            "FROM a\nCOPY --from x y\n",
            "dockerfile parse error on line 2: missing a value on flag: from",
        ),
        (
            "FROM a\nCOPY --link= x y\n",
            "dockerfile parse error on line 2: missing a value on flag: link",
        ),
        (
            "FROM a\nCOPY --link=yes x y\n",
            "dockerfile parse error on line 2: expecting boolean value for flag link, not: yes",
        ),
        (
            "FROM a\nRUN --network=bridge x\n",
            'dockerfile parse error on line 2: invalid network mode "bridge"',
        ),
        (
            "FROM a\nRUN --mount=from=$X x\n",
            "dockerfile parse error on line 2: 'from' doesn't support variable expansion, define alias stage instead",
        ),
        ("FROM\n", "dockerfile parse error on line 1: FROM requires either one or three arguments"),
        (
            "FROM a b\n",
            "dockerfile parse error on line 1: FROM requires either one or three arguments",
        ),
        (
            "FROM a AS 1x\n",
            'dockerfile parse error on line 1: invalid name for build stage: "1x", '
            "name can't start with a number or contain symbols",
        ),
        (
            "FROM --platfrom=x a\n",
            "dockerfile parse error on line 1: unknown flag: platfrom (did you mean platform?)",
        ),
        ("FROM --plat=x a\n", "dockerfile parse error on line 1: unknown flag: plat"),
        (
            "FROM a\nHEALTHCHECK NONE x\n",
            "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments",
        ),
        (
            "FROM a\nHEALTHCHECK CMD\n",
            "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD",
        ),
        (
            "FROM a\nHEALTHCHECK RUN x\n",
            'dockerfile parse error on line 2: Unknown type "RUN" in HEALTHCHECK (try CMD)',
        ),
        (
            "FROM a\nHEALTHCHECK --interval=5 CMD x\n",
            'dockerfile parse error on line 2: time: missing unit in duration "5"',
        ),
        (
            "FROM a\nHEALTHCHECK --timeout=x CMD x\n",
            'dockerfile parse error on line 2: time: invalid duration "x"',
        ),
        (
            "FROM a\nHEALTHCHECK --interval=50ns CMD x\n",
            'dockerfile parse error on line 2: Interval "interval" cannot be less than 1ms',
        ),
        (
            "FROM a\nHEALTHCHECK --start-interval=-1s CMD x\n",
            'dockerfile parse error on line 2: Interval "start-interval" cannot be less than 1ms',
        ),
        (
            "FROM a\nHEALTHCHECK --retries=-1 CMD x\n",
            "dockerfile parse error on line 2: --retries cannot be negative (-1)",
        ),
        (
            "FROM a\nHEALTHCHECK --retries=x CMD x\n",
            'dockerfile parse error on line 2: strconv.ParseInt: parsing "x": invalid syntax',
        ),
        (
            "FROM a\nHEALTHCHECK --retris=1 CMD x\n",
            "dockerfile parse error on line 2: unknown flag: retris (did you mean retries?)",
        ),
        ("RUN x\n", "no build stage in current context"),
        ("ARG a\nRUN x\n", "no build stage in current context"),
        ("# only a comment\n", "failed to parse Dockerfile: file with no instructions"),
        (
            "FROM a\nCMD [1]\n",
            "failed to parse Dockerfile: when using JSON array syntax, arrays must be comprised of strings only",
        ),
        (
            "# escape=x\nFROM a\n",
            "failed to parse Dockerfile: invalid escape token 'x' does not match ` or \\",
        ),
        ("", "the Dockerfile (Dockerfile) cannot be empty"),
    ],
)
def test_errors(dockerfile: str, message: str) -> None:
    assert error(dockerfile) == message


def test_trigger() -> None:
    cmd = parse_trigger("RUN echo hi")
    assert isinstance(cmd, RunCommand) and cmd.cmd == ["echo hi"]
    with pytest.raises(
        errdefs.InvalidParameter, match=r"^onbuild trigger should be a single expression$"
    ):
        parse_trigger("RUN a\nRUN b")
    with pytest.raises(
        errdefs.InvalidParameter, match=r"^\*instructions.Stage is not a command type$"
    ):
        parse_trigger("FROM x")
    with pytest.raises(errdefs.InvalidParameter, match=r"^unknown instruction: ECHO$"):
        parse_trigger("ECHO hi")


def test_remote_dockerfile_errors_are_bare() -> None:
    with pytest.raises(errdefs.InvalidParameter) as err:
        parse_dockerfile(b"", name=None)
    assert str(err.value) == "file with no instructions"
    with pytest.raises(errdefs.InvalidParameter) as err:
        parse_dockerfile(b"FROM a\nXYZZY\n", name="sub/Dockerfile.dev")
    assert str(err.value) == "dockerfile parse error on line 2: unknown instruction: XYZZY"
    with pytest.raises(errdefs.InvalidParameter) as err:
        parse_dockerfile(b"\n", name="sub/Dockerfile.dev")
    assert str(err.value) == "failed to parse sub/Dockerfile.dev: file with no instructions"


def test_step_text_is_trimmed_original() -> None:
    stages, meta, _ = parse_dockerfile(b"ARG A=1   \nFROM a   \nRUN echo \\\n  hi  \n")
    assert str(meta[0]) == "ARG A=1"
    assert str(stages[0]) == "FROM a"
    assert str(stages[0].commands[0]) == "RUN echo   hi"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("type=secret", "invalid secret mount. one of source, target required"),
        ("type=secret,id=a,source=b", "both source and id can't be set"),
        ("type=secret,target=/t,from=x", "secret mount should not have a from"),
        ("type=bind,mode=0644", 'mode not allowed for "bind" type mounts'),
        ("type=cache,mode=9", "invalid value 9 for mode"),
        ("type=cache,uid=x", "invalid value x for uid"),
        ("type=cache,sharing=all", 'unsupported sharing value "all"'),
        ("type=cache,sharing=share", 'unsupported sharing value "share" (did you mean shared?)'),
        ("type=bind,sharing=shared", "invalid cache sharing set for bind mount"),
        ("type=bind,readonly=maybe", "invalid value for readonly: maybe"),
        ("type=bind,size=1g", "unexpected key 'size' for mount type 'bind'"),
        ("type=tmpfs,size=lots", "invalid value for size: lots"),
        ("type=bind,required", "unexpected key 'required' for mount type 'bind'"),
        ("type=bind,bogus", "invalid field 'bogus' must be a key=value pair"),
        ("type=bind,foo=bar", "unexpected key 'foo' in 'foo=bar' (did you mean from?)"),
        ("type=bind,targt=/x", "unexpected key 'targt' in 'targt=/x' (did you mean target?)"),
    ],
)
def test_run_mount_errors_at_dispatch(value: str, message: str) -> None:
    run = one(f"RUN --mount={value} true")
    assert isinstance(run, RunCommand)
    with pytest.raises(errdefs.InvalidParameter) as err:
        run.expand(lambda w: w)
    assert str(err.value) == message


def test_run_mount_values() -> None:
    run = one(
        "RUN --mount=type=tmpfs,target=/t,size=1g --mount=type=secret,id=s,required,mode=0400 true"
    )
    assert isinstance(run, RunCommand)
    run.expand(lambda w: w)
    tmpfs, secret = run.mounts
    assert (tmpfs.type, tmpfs.target, tmpfs.size_limit, tmpfs.read_only) == (
        "tmpfs",
        "/t",
        1 << 30,
        False,
    )
    assert (secret.type, secret.cache_id, secret.required, secret.mode, secret.read_only) == (
        "secret",
        "s",
        True,
        0o400,
        True,
    )


def test_every_instruction_file() -> None:
    path = Path(__file__).parent / "testdata" / "golden" / "every-instruction" / "Dockerfile"
    stages, meta, result = parse_dockerfile(path.read_bytes())
    assert [a.args for a in meta] == [[("BASE", "busybox")], [("TAG", None)]]
    assert [(s.name, s.base_name, s.platform) for s in stages] == [
        ("build", "${BASE}:${TAG:-latest}", "$BUILDPLATFORM"),
        ("", "scratch", ""),
    ]
    names = [c.name for c in stages[0].commands]
    assert names == [
        "maintainer", "label", "label", "env", "env", "arg", "workdir", "user", "expose", "volume",
        "volume", "shell", "run", "run", "run", "run", "copy", "copy", "copy", "add", "cmd",
        "entrypoint", "healthcheck", "healthcheck", "onbuild", "onbuild", "stopsignal",
    ]  # fmt: skip
    heredoc_copy = stages[0].commands[18]
    assert isinstance(heredoc_copy, CopyCommand) and heredoc_copy.sources == []
    assert heredoc_copy.source_contents == [
        SourceContent(path="conf", data="key=$VALUE\n", expand=True)
    ]
    onbuild = stages[0].commands[25]
    assert (
        isinstance(onbuild, OnbuildCommand) and onbuild.expression == "COPY <<T /t\ntrigger body\nT"
    )
    assert result.directives == {"syntax": "docker/dockerfile:1", "escape": "\\"}
