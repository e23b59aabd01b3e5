"""``docker import --change`` / ``docker commit --change``: Dockerfile lines applied to a config.

moby ``builder/dockerfile.BuildFromConfig``: the changes are joined into one
Dockerfile and parsed by the builder's own front end (``berthd.builder.dockerfile``),
so quoting, escapes, ``$VAR`` expansion (from the config's own ``Env``) and the
error texts are the builder's. Only CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK,
LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME and WORKDIR are allowed; anything else is
refused with dockerd's ``"<INSTR> is not a valid change command"`` (as written).
Kept apart from import so commit can use it.
"""

from __future__ import annotations

import functools

from berthd import errdefs
from berthd.builder.dockerfile.commands import (
    CmdCommand,
    Command,
    EntrypointCommand,
    EnvCommand,
    Expandable,
    ExposeCommand,
    HealthCheckCommand,
    LabelCommand,
    OnbuildCommand,
    StopSignalCommand,
    UserCommand,
    VolumeCommand,
    WorkdirCommand,
)
from berthd.builder.dockerfile.instructions import parse_command
from berthd.builder.dockerfile.parser import parse
from berthd.builder.dockerfile.shell import Lex, build_envs
from berthd.image.spec import Config
from berthd.lib.gopath import clean as go_clean
from berthd.oci import parse_signal

__all__ = ["apply_changes", "expand_ports"]

VALID = (
    "cmd",
    "entrypoint",
    "env",
    "expose",
    "healthcheck",
    "label",
    "onbuild",
    "stopsignal",
    "user",
    "volume",
    "workdir",
)


def apply_changes(config: Config, changes: list[str]) -> Config:
    """Apply the change lines to a copy of ``config``."""
    cfg = config.copy()
    if not changes:
        return cfg
    result = parse("\n".join(changes).encode("utf-8", "surrogateescape"))
    for node in result.ast:
        if node.value not in VALID:
            raise errdefs.InvalidParameter(f"{node.raw_value} is not a valid change command")
    commands = [parse_command(node) for node in result.ast]
    lex = Lex(result.escape_token)
    state = _State()
    for cmd in commands:
        env = build_envs(cfg.get("Env") or [])
        if isinstance(cmd, Expandable):
            cmd.expand(functools.partial(_expand_word, lex, env))
        _dispatch(cfg, cmd, lex, env, state)
    return cfg


def _expand_word(lex: Lex, env: dict[str, str], word: str) -> str:
    return lex.process_word(word, env)


class _State:
    cmd_set = False


def _dispatch(cfg: Config, cmd: Command, lex: Lex, env: dict[str, str], state: _State) -> None:
    if isinstance(cmd, EnvCommand):
        env_list = list(cfg.get("Env") or [])
        for key, value in cmd.env:
            entry = f"{key}={value}"
            for i, existing in enumerate(env_list):
                if existing.partition("=")[0] == key:
                    env_list[i] = entry
                    break
            else:
                env_list.append(entry)
        cfg["Env"] = env_list
    elif isinstance(cmd, LabelCommand):
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(cmd.labels)}
    elif isinstance(cmd, CmdCommand):
        cfg["Cmd"] = cmd.resolve(cfg.get("Shell"))
        if cmd.cmd:
            state.cmd_set = True
    elif isinstance(cmd, EntrypointCommand):
        cfg["Entrypoint"] = cmd.resolve(cfg.get("Shell"))
        if not state.cmd_set:
            cfg["Cmd"] = None
    elif isinstance(cmd, ExposeCommand):
        ports = dict(cfg.get("ExposedPorts") or {})
        for word in cmd.ports:
            for spec in lex.process_words(word, env):
                for port in expand_ports(spec):
                    ports[port] = {}
        cfg["ExposedPorts"] = ports
    elif isinstance(cmd, VolumeCommand):
        vols = dict(cfg.get("Volumes") or {})
        for v in cmd.volumes:
            if not v:
                raise errdefs.InvalidParameter("VOLUME specified can not be an empty string")
            vols[v] = {}
        cfg["Volumes"] = vols
    elif isinstance(cmd, UserCommand):
        cfg["User"] = cmd.user
    elif isinstance(cmd, WorkdirCommand):
        cfg["WorkingDir"] = _normalize_workdir(cfg.get("WorkingDir") or "", cmd.path)
    elif isinstance(cmd, StopSignalCommand):
        parse_signal(cmd.signal)
        cfg["StopSignal"] = cmd.signal
    elif isinstance(cmd, OnbuildCommand):
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), cmd.expression]
    elif isinstance(cmd, HealthCheckCommand):
        cfg["Healthcheck"] = cmd.to_config()
    else:  # pragma: no cover - VALID is exhaustive
        raise errdefs.InvalidParameter(f"{cmd.name} is not a valid change command")


def _normalize_workdir(current: str, requested: str) -> str:
    """``normalizeWorkdir``: relative paths join the current one; always cleaned."""
    if not requested:
        raise errdefs.InvalidParameter("cannot normalize nothing")
    if not requested.startswith("/"):
        return go_clean("/" + current + "/" + requested)
    return go_clean(requested)


def expand_ports(spec: str) -> list[str]:
    """``nat.ParsePortSpecs`` for EXPOSE: ``80``, ``80/udp``, ``8000-8002/tcp``."""
    port, _, proto = spec.partition("/")
    proto = (proto or "tcp").lower()
    start, _, end = port.partition("-")
    if not start.isdigit() or (end and not end.isdigit()):
        raise errdefs.InvalidParameter(f"invalid containerPort: {port}")
    lo, hi = int(start), int(end or start)
    if hi < lo or hi > 65535:
        raise errdefs.InvalidParameter(f"invalid range specified for containerPort: {port}")
    return [f"{p}/{proto}" for p in range(lo, hi + 1)]
