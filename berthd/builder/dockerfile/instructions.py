"""AST nodes → typed commands and build stages (buildkit ``instructions/parse.go``).

:func:`parse_dockerfile` is what dockerd v26's classic builder does before it
prints anything: parse (errors read ``failed to parse Dockerfile: …``), turn each
node into a command (errors read ``dockerfile parse error on line N: …``), split
off the meta ARGs before the first FROM. Some refusals are dispatch-time in dockerd
and stay so here, for the dispatcher: ``--chmod`` on COPY/ADD (the ``chmod`` field,
message :data:`BUILDKIT_ONLY_CHMOD`), RUN flags (:meth:`RunCommand.buildkit_only_error`,
after :meth:`RunCommand.expand` re-checked the mounts), ``<name> stage name already
used``, ``base name (…) should not be blank``. ``--link``, ``--checksum`` and
``--keep-git-dir`` parse and are ignored by the classic builder, as in dockerd;
``--parents``, ``--exclude`` and RUN ``--security`` are unknown flags (buildkit's
labs features, not built into dockerd).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypedDict

from berthd import errdefs
from berthd.lib.goduration import format_duration, parse_duration
from berthd.lib.strconv import quote as go_quote

from .bflag import BFlags, FlagError
from .commands import (
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
    ShellInlineFile,
    SourceContent,
    Stage,
    StopSignalCommand,
    UserCommand,
    VolumeCommand,
    WorkdirCommand,
)
from .gotext import trim_space
from .parser import (
    DockerfileSyntaxError,
    Node,
    Result,
    chomp_heredoc_content,
    must_parse_heredoc,
    parse,
)
from .runmount import MountError, parse_mount
from .suggest import suggest

__all__ = [
    "BUILDKIT_ONLY_CHMOD",
    "INSTRUCTIONS",
    "InstructionError",
    "has_stage",
    "parse_command",
    "parse_dockerfile",
    "parse_instruction",
    "parse_trigger",
]

INSTRUCTIONS = (
    "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck",
    "label", "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir",
)  # fmt: skip
BUILDKIT_ONLY_CHMOD = (
    "the --chmod option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ "
    "to learn how to build images with BuildKit enabled"
)
_MINIMUM_DURATION_NS = 1_000_000  # container.MinimumDuration
_VALID_STAGE_NAME = re.compile(r"[a-z][a-z0-9_.\-]*\Z")
_ONBUILD_PREFIX = re.compile(r"^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*", re.I)


class InstructionError(errdefs.InvalidParameter):
    """An instruction dockerd refuses; ``line`` is its first line (1-based)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.line = line


class _Fail(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- the whole file ------------------------------------------------------------------
def parse_dockerfile(
    data: bytes, name: str | None = "Dockerfile"
) -> tuple[list[Stage], list[ArgCommand], Result]:
    """The stages, the meta ARGs (before the first FROM) and the parse result.

    ``name`` is the Dockerfile's path in the context, as dockerd words its errors
    (``the Dockerfile (<name>) cannot be empty``, ``failed to parse <name>: …``);
    None for a Dockerfile downloaded as a ``remote=`` text/plain URL, whose parse
    errors dockerd reports bare.
    """
    if not data and name is not None:
        raise errdefs.InvalidParameter(f"the Dockerfile ({name}) cannot be empty")
    try:
        result = parse(data)
    except DockerfileSyntaxError as e:
        message = str(e) if name is None else f"failed to parse {name}: {e}"
        raise InstructionError(message, e.start_line) from None
    stages: list[Stage] = []
    meta_args: list[ArgCommand] = []
    for node in result.ast:
        try:
            cmd = _parse_node(node)
        except _Fail as e:
            raise InstructionError(
                f"dockerfile parse error on line {node.start_line}: {e.message}", node.start_line
            ) from None
        if isinstance(cmd, Stage):
            stages.append(cmd)
        elif not stages and isinstance(cmd, ArgCommand):
            meta_args.append(cmd)
        elif not stages:
            raise InstructionError("no build stage in current context", node.start_line)
        else:
            stages[-1].commands.append(cmd)
    return stages, meta_args, result


def has_stage(stages: list[Stage], name: str) -> int | None:
    """``HasStage``: the index of the stage named ``name`` (case-insensitive), else None."""
    for i, stage in enumerate(stages):
        if stage.name.lower() == name.lower():
            return i
    return None


def parse_instruction(node: Node) -> Command | Stage:
    """One node; errors carry moby's bare message (no line prefix)."""
    try:
        return _parse_node(node)
    except _Fail as e:
        raise InstructionError(e.message, node.start_line) from None


def parse_command(node: Node) -> Command:
    """``ParseCommand``: like :func:`parse_instruction`, FROM refused."""
    cmd = parse_instruction(node)
    if isinstance(cmd, Stage):
        raise InstructionError("*instructions.Stage is not a command type", node.start_line)
    return cmd


def parse_trigger(expression: str) -> Command:
    """An ONBUILD trigger as a child build runs it (``dispatchTriggeredOnBuild``)."""
    result = parse(expression.encode("utf-8", "surrogateescape"))
    if len(result.ast) != 1:
        raise errdefs.InvalidParameter("onbuild trigger should be a single expression")
    return parse_command(result.ast[0])


# --- one node --------------------------------------------------------------------------
class _Request:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.args = node.args()
        self.flags = BFlags(node.flags)
        self.original = node.original
        self.code = trim_space(node.original)
        self.is_json = node.is_json

    def parse_flags(self) -> None:
        try:
            self.flags.parse()
        except FlagError as e:
            raise _Fail(str(e)) from None

    def base(self) -> _Base:
        n = self.node
        return {
            "name": n.value,
            "original": self.code,
            "line": n.start_line,
            "end_line": n.end_line,
        }


class _Base(TypedDict):
    name: str
    original: str
    line: int
    end_line: int


def _parse_node(node: Node) -> Command | Stage:
    parser = _PARSERS.get(node.value)
    if parser is None:
        upper = sorted(i.upper() for i in INSTRUCTIONS)
        raise _Fail(suggest(f"unknown instruction: {node.raw_value}", node.raw_value, upper, False))
    return parser(_Request(node))


def _kvps(args: list[str], command: str) -> list[tuple[str, str]]:
    if not args:
        raise _Fail(f"{command} requires at least one argument")
    if len(args) % 2:
        raise _Fail(f"Bad input to {command}, too many arguments")
    out: list[tuple[str, str]] = []
    for i in range(0, len(args), 2):
        if not args[i]:
            raise _Fail(f"{command} names can not be blank")
        out.append((args[i], args[i + 1]))
    return out


def _env(req: _Request) -> EnvCommand:
    req.parse_flags()
    return EnvCommand(env=_kvps(req.args, "ENV"), **req.base())


def _maintainer(req: _Request) -> MaintainerCommand:
    if len(req.args) != 1:
        raise _Fail("MAINTAINER requires exactly one argument")
    req.parse_flags()
    return MaintainerCommand(maintainer=req.args[0], **req.base())


def _label(req: _Request) -> LabelCommand:
    req.parse_flags()
    return LabelCommand(labels=_kvps(req.args, "LABEL"), **req.base())


def _sources_and_dest(req: _Request, command: str) -> tuple[list[str], str, list[SourceContent]]:
    sources, dest = req.args[:-1], req.args[-1]
    if must_parse_heredoc(dest) is not None:
        raise _Fail(f"{command} cannot accept a heredoc as a destination")
    bodies = {h.name: h.content for h in req.node.heredocs}
    paths: list[str] = []
    contents: list[SourceContent] = []
    for src in sources:
        doc = must_parse_heredoc(src)
        if doc is None:
            paths.append(src)
            continue
        data = bodies.get(doc.name, "")
        if doc.chomp:
            data = chomp_heredoc_content(data)
        contents.append(SourceContent(path=doc.name, data=data, expand=doc.expand))
    return paths, dest, contents


def _no_destination(command: str) -> _Fail:
    return _Fail(
        f"{command} requires at least two arguments, but only one was provided. "
        "Destination could not be determined"
    )


def _add(req: _Request) -> AddCommand:
    if len(req.args) < 2:
        raise _no_destination("ADD")
    chown = req.flags.add_string("chown")
    chmod = req.flags.add_string("chmod")
    link = req.flags.add_bool("link")
    keep_git_dir = req.flags.add_bool("keep-git-dir")
    checksum = req.flags.add_string("checksum")
    req.parse_flags()
    sources, dest, contents = _sources_and_dest(req, "ADD")
    return AddCommand(
        sources=sources,
        dest=dest,
        source_contents=contents,
        chown=chown.value,
        chmod=chmod.value,
        link=link.is_true,
        keep_git_dir=keep_git_dir.is_true,
        checksum=checksum.value,
        **req.base(),
    )


def _copy(req: _Request) -> CopyCommand:
    if len(req.args) < 2:
        raise _no_destination("COPY")
    chown = req.flags.add_string("chown")
    from_ = req.flags.add_string("from")
    chmod = req.flags.add_string("chmod")
    link = req.flags.add_bool("link")
    req.parse_flags()
    sources, dest, contents = _sources_and_dest(req, "COPY")
    return CopyCommand(
        sources=sources,
        dest=dest,
        source_contents=contents,
        from_=from_.value,
        chown=chown.value,
        chmod=chmod.value,
        link=link.is_true,
        **req.base(),
    )


def _from(req: _Request) -> Stage:
    args = req.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _VALID_STAGE_NAME.match(name):
            raise _Fail(
                f"invalid name for build stage: {go_quote(args[2])}, "
                "name can't start with a number or contain symbols"
            )
    elif len(args) != 1:
        raise _Fail("FROM requires either one or three arguments")
    platform = req.flags.add_string("platform")
    req.parse_flags()
    return Stage(
        name=name,
        base_name=args[0],
        platform=platform.value,
        commands=[],
        original=req.code,
        line=req.node.start_line,
    )


def _onbuild(req: _Request) -> OnbuildCommand:
    if not req.args:
        raise _Fail("ONBUILD requires at least one argument")
    req.parse_flags()
    trigger = trim_space(req.args[0]).upper()
    if trigger == "ONBUILD":
        raise _Fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _Fail(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = _ONBUILD_PREFIX.sub("", req.original, count=1)
    for doc in req.node.heredocs:
        expression += "\n" + doc.content + doc.name
    return OnbuildCommand(expression=expression, **req.base())


def _workdir(req: _Request) -> WorkdirCommand:
    if len(req.args) != 1:
        raise _Fail("WORKDIR requires exactly one argument")
    req.parse_flags()
    return WorkdirCommand(path=req.args[0], **req.base())


def _cmd_line(req: _Request, empty_as_none: bool) -> tuple[list[str] | None, list[ShellInlineFile]]:
    files = [ShellInlineFile(name=h.name, data=h.content, chomp=h.chomp) for h in req.node.heredocs]
    if not req.args:
        args: list[str] = []
    elif req.is_json:
        args = list(req.args)
    else:
        args = [" ".join(req.args)]
    if empty_as_none and not args:
        return None, files
    return args, files


def _run(req: _Request) -> RunCommand:
    mount = req.flags.add_strings("mount")
    network = req.flags.add_string("network", "default")
    req.parse_flags()
    cmd, files = _cmd_line(req, False)
    try:
        mounts = [parse_mount(v, None) for v in mount.values]
    except MountError as e:
        raise _Fail(str(e)) from None
    if network.value not in ("default", "none", "host"):
        raise _Fail(f"invalid network mode {go_quote(network.value)}")
    return RunCommand(
        cmd=cmd,
        prepend_shell=not req.is_json,
        files=files,
        flags_used=list(req.flags.used),
        mount_values=list(mount.values),
        mounts=mounts,
        network=network.value,
        **req.base(),
    )


def _cmd(req: _Request) -> CmdCommand:
    req.parse_flags()
    cmd, files = _cmd_line(req, False)
    return CmdCommand(cmd=cmd, prepend_shell=not req.is_json, files=files, **req.base())


def _entrypoint(req: _Request) -> EntrypointCommand:
    req.parse_flags()
    cmd, files = _cmd_line(req, True)
    return EntrypointCommand(cmd=cmd, prepend_shell=not req.is_json, files=files, **req.base())


def _interval(name: str, value: str) -> int:
    if value == "":
        return 0
    try:
        d = parse_duration(value)
    except ValueError as e:
        raise _Fail(str(e)) from None
    if d == 0:
        return 0
    if d < _MINIMUM_DURATION_NS:
        raise _Fail(
            f"Interval {go_quote(name)} cannot be less than {format_duration(_MINIMUM_DURATION_NS)}"
        )
    return d


def _parse_int32(value: str) -> int:
    """``strconv.ParseInt(value, 10, 32)`` with Go's error texts."""
    digits = value[1:] if value[:1] in "+-" else value
    if not digits or not digits.isascii() or not digits.isdigit():
        raise _Fail(f"strconv.ParseInt: parsing {go_quote(value)}: invalid syntax")
    n = int(value)
    if not -(1 << 31) <= n < 1 << 31:
        raise _Fail(f"strconv.ParseInt: parsing {go_quote(value)}: value out of range")
    return n


def _healthcheck(req: _Request) -> HealthCheckCommand:
    if not req.args:
        raise _Fail("HEALTHCHECK requires at least one argument")
    typ = req.args[0].upper()
    args = req.args[1:]
    if typ == "NONE":
        if args:
            raise _Fail("HEALTHCHECK NONE takes no arguments")
        return HealthCheckCommand(test=["NONE"], **req.base())
    flags = {
        name: req.flags.add_string(name)
        for name in ("interval", "timeout", "start-period", "start-interval", "retries")
    }
    req.parse_flags()
    if typ != "CMD":
        raise _Fail(f"Unknown type {go_quote(typ)} in HEALTHCHECK (try CMD)")
    cmd = list(args) if req.is_json else ([" ".join(args)] if args else [])
    if not cmd:
        raise _Fail("Missing command after HEALTHCHECK CMD")
    test = ["CMD" if req.is_json else "CMD-SHELL", *cmd]
    interval = _interval("interval", flags["interval"].value)
    timeout = _interval("timeout", flags["timeout"].value)
    start_period = _interval("start-period", flags["start-period"].value)
    start_interval = _interval("start-interval", flags["start-interval"].value)
    retries = 0
    if flags["retries"].value != "":
        retries = _parse_int32(flags["retries"].value)
        if retries < 0:
            raise _Fail(f"--retries cannot be negative ({retries})")
    return HealthCheckCommand(
        test=test,
        interval_ns=interval,
        timeout_ns=timeout,
        start_period_ns=start_period,
        start_interval_ns=start_interval,
        retries=retries,
        **req.base(),
    )


def _expose(req: _Request) -> ExposeCommand:
    if not req.args:
        raise _Fail("EXPOSE requires at least one argument")
    req.parse_flags()
    return ExposeCommand(ports=sorted(req.args), **req.base())


def _user(req: _Request) -> UserCommand:
    if len(req.args) != 1:
        raise _Fail("USER requires exactly one argument")
    req.parse_flags()
    return UserCommand(user=req.args[0], **req.base())


def _volume(req: _Request) -> VolumeCommand:
    if not req.args:
        raise _Fail("VOLUME requires at least one argument")
    req.parse_flags()
    volumes: list[str] = []
    for v in req.args:
        v = trim_space(v)
        if not v:
            raise _Fail("VOLUME specified can not be an empty string")
        volumes.append(v)
    return VolumeCommand(volumes=volumes, **req.base())


def _stopsignal(req: _Request) -> StopSignalCommand:
    if len(req.args) != 1:
        raise _Fail("STOPSIGNAL requires exactly one argument")
    return StopSignalCommand(signal=req.args[0], **req.base())


def _arg(req: _Request) -> ArgCommand:
    if not req.args:
        raise _Fail("ARG requires at least one argument")
    pairs: list[tuple[str, str | None]] = []
    for arg in req.args:
        if "=" in arg:
            key, _, value = arg.partition("=")
            if not key:
                raise _Fail("ARG names can not be blank")
            pairs.append((key, value))
        else:
            pairs.append((arg, None))
    return ArgCommand(args=pairs, **req.base())


def _shell(req: _Request) -> ShellCommand:
    req.parse_flags()
    cmd, _ = _cmd_line(req, False)
    if not cmd:
        raise _Fail("SHELL requires at least one argument")
    if not req.is_json:
        raise _Fail("SHELL requires the arguments to be in JSON form")
    return ShellCommand(shell=cmd, **req.base())


_PARSERS: dict[str, Callable[[_Request], Command | Stage]] = {
    "env": _env,
    "maintainer": _maintainer,
    "label": _label,
    "add": _add,
    "copy": _copy,
    "from": _from,
    "onbuild": _onbuild,
    "workdir": _workdir,
    "run": _run,
    "cmd": _cmd,
    "healthcheck": _healthcheck,
    "entrypoint": _entrypoint,
    "expose": _expose,
    "user": _user,
    "volume": _volume,
    "stopsignal": _stopsignal,
    "arg": _arg,
    "shell": _shell,
}
