"""The container process: argv (Entrypoint + Cmd, ``--init``), env, cwd, terminal.

Rules are dockerd's: ``getEntrypointAndArgs``, ``CreateDaemonEnvironment``
(PATH, HOSTNAME, TERM=xterm with a tty, then Config.Env replacing or unsetting
them) and ``WithCommonOptions`` (tini bind-mounted read-only at
/sbin/docker-init and put in front of the command, only with a private PID
namespace). HOME is appended from the passwd entry when Env does not set it,
as runc does inside the container, so ``config.json`` shows the final env.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from berthd.errdefs import InvalidParameter

from .defaults import DEFAULT_PATH_ENV

__all__ = [
    "INIT_PATH",
    "container_env",
    "entrypoint_and_args",
    "init_mount",
    "process_args",
    "replace_or_append_env",
]

INIT_PATH = "/sbin/docker-init"


def entrypoint_and_args(
    entrypoint: Sequence[str] | None, cmd: Sequence[str] | None
) -> tuple[str, list[str]]:
    """(Path, Args) of the container: Entrypoint[0] with Entrypoint[1:] + Cmd, else Cmd."""
    ep, c = list(entrypoint or []), list(cmd or [])
    if ep:
        return ep[0], ep[1:] + c
    if not c:
        raise InvalidParameter("No command specified")
    return c[0], c[1:]


def process_args(path: str, args: Sequence[str], init: bool) -> list[str]:
    """argv for runc; with ``--init`` tini runs the command: ``docker-init -- cmd …``."""
    if init:
        return [INIT_PATH, "--", path, *args]
    return [path, *args]


def init_mount(init_binary: str) -> dict[str, Any]:
    """The read-only bind of the host's tini (``docker-init``) into the container."""
    return {
        "destination": INIT_PATH,
        "type": "bind",
        "source": init_binary,
        "options": ["bind", "ro"],
    }


def replace_or_append_env(defaults: list[str], overrides: Iterable[str]) -> list[str]:
    """Docker's ReplaceOrAppendEnvValues: ``K=V`` replaces or appends, bare ``K`` unsets."""
    env: list[str | None] = list(defaults)
    index = {e.split("=", 1)[0]: i for i, e in enumerate(defaults)}
    for value in overrides:
        key, eq, _ = value.partition("=")
        if not eq:
            if value in index:
                env[index[value]] = None
            continue
        if key in index:
            env[index[key]] = value
        else:
            env.append(value)
    return [e for e in env if e is not None]


def container_env(
    config: Mapping[str, Any],
    linked_env: Sequence[str] = (),
    home: str | None = None,
) -> list[str]:
    """The process env of a container from its Config (Env, Hostname, Tty)."""
    base = ["PATH=" + DEFAULT_PATH_ENV, "HOSTNAME=" + str(config.get("Hostname") or "")]
    if config.get("Tty"):
        base.append("TERM=xterm")
    base.extend(linked_env)
    env = replace_or_append_env(base, config.get("Env") or [])
    if home is not None and not any(e.startswith("HOME=") for e in env):
        env.append("HOME=" + home)
    return env
