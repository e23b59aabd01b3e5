"""Typed Dockerfile instructions (buildkit ``instructions/commands.go``).

Every command has ``name`` (lower case), ``original`` (the instruction's text,
trimmed: what ``Step N/M : …`` prints, also ``str(cmd)``), ``line``/``end_line``.
Commands dockerd expands when it dispatches them have ``expand(fn)``: ENV, LABEL,
ADD, COPY, WORKDIR, USER, VOLUME, STOPSIGNAL, ARG (and RUN, whose ``--mount``
values are re-checked). EXPOSE is expanded word-to-words by the dispatcher
(``Lex.process_words``), CMD/ENTRYPOINT/SHELL/HEALTHCHECK/ONBUILD/MAINTAINER never.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from berthd import errdefs
from berthd.image.spec import HealthConfig

from .runmount import Mount, MountError, parse_mount

__all__ = [
    "DEFAULT_SHELL",
    "AddCommand",
    "ArgCommand",
    "CmdCommand",
    "Command",
    "CopyCommand",
    "EntrypointCommand",
    "EnvCommand",
    "Expandable",
    "Expander",
    "ExposeCommand",
    "HealthCheckCommand",
    "LabelCommand",
    "MaintainerCommand",
    "OnbuildCommand",
    "RunCommand",
    "ShellCommand",
    "ShellInlineFile",
    "SourceContent",
    "Stage",
    "StopSignalCommand",
    "UserCommand",
    "VolumeCommand",
    "WorkdirCommand",
    "new_label_command",
]

Expander = Callable[[str], str]
DEFAULT_SHELL = ("/bin/sh", "-c")


@runtime_checkable
class Expandable(Protocol):
    """A command dockerd expands (``SupportsSingleWordExpansion``) before dispatching it."""

    def expand(self, fn: Expander) -> None: ...


@dataclass(kw_only=True)
class Command:
    name: str
    original: str
    line: int = 0
    end_line: int = 0

    def __str__(self) -> str:
        return self.original


@dataclass(kw_only=True)
class EnvCommand(Command):
    env: list[tuple[str, str]]

    def expand(self, fn: Expander) -> None:
        self.env = [(fn(k), fn(v)) for k, v in self.env]


@dataclass(kw_only=True)
class MaintainerCommand(Command):
    maintainer: str


@dataclass(kw_only=True)
class LabelCommand(Command):
    labels: list[tuple[str, str]]
    no_expand: bool = False

    def expand(self, fn: Expander) -> None:
        if not self.no_expand:
            self.labels = [(fn(k), fn(v)) for k, v in self.labels]


def new_label_command(key: str, value: str) -> LabelCommand:
    """A ``--label k=v`` build option, added to the last stage unexpanded."""
    return LabelCommand(
        name="label", original=f"LABEL {key}={value}", labels=[(key, value)], no_expand=True
    )


@dataclass
class SourceContent:
    """A heredoc used as a COPY/ADD source (``COPY <<EOF /dst``)."""

    path: str
    data: str
    expand: bool


@dataclass(kw_only=True)
class _SourcesAndDest(Command):
    sources: list[str]
    dest: str
    source_contents: list[SourceContent] = field(default_factory=list)
    chown: str = ""
    chmod: str = ""
    link: bool = False

    def _expand_paths(self, fn: Expander) -> None:
        self.sources = [fn(s) for s in self.sources]
        self.dest = fn(self.dest)

    def expand_raw(self, fn: Expander) -> None:
        """BuildKit expands unquoted heredoc sources; the classic builder does not call this."""
        for content in self.source_contents:
            if content.expand:
                content.data = fn(content.data)


@dataclass(kw_only=True)
class AddCommand(_SourcesAndDest):
    keep_git_dir: bool = False
    checksum: str = ""

    def expand(self, fn: Expander) -> None:
        self.chown = fn(self.chown)
        self.checksum = fn(self.checksum)
        self._expand_paths(fn)


@dataclass(kw_only=True)
class CopyCommand(_SourcesAndDest):
    from_: str = ""

    def expand(self, fn: Expander) -> None:
        self.chown = fn(self.chown)
        self._expand_paths(fn)


@dataclass(kw_only=True)
class OnbuildCommand(Command):
    expression: str


@dataclass(kw_only=True)
class WorkdirCommand(Command):
    path: str

    def expand(self, fn: Expander) -> None:
        self.path = fn(self.path)


@dataclass
class ShellInlineFile:
    """A heredoc of a RUN/CMD/ENTRYPOINT (kept; the classic builder ignores it)."""

    name: str
    data: str
    chomp: bool


@dataclass(kw_only=True)
class _ShellDependent(Command):
    cmd: list[str] | None  # shell form: one string; None only for an empty ENTRYPOINT
    prepend_shell: bool
    files: list[ShellInlineFile] = field(default_factory=list)

    def resolve(self, shell: list[str] | None) -> list[str] | None:
        """``resolveCmdLine``: the shell form runs under SHELL (default ``/bin/sh -c``)."""
        if self.cmd is None:
            return None
        if self.prepend_shell:
            return [*(shell or DEFAULT_SHELL), *self.cmd]
        return list(self.cmd)


@dataclass(kw_only=True)
class RunCommand(_ShellDependent):
    flags_used: list[str] = field(default_factory=list)  # in the order written
    mount_values: list[str] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)
    network: str = "default"

    def expand(self, fn: Expander) -> None:
        """Re-check the ``--mount`` values with the stage's variables (``setMountState``)."""
        try:
            self.mounts = [parse_mount(v, fn) for v in self.mount_values]
        except MountError as e:
            raise errdefs.InvalidParameter(str(e)) from None

    def buildkit_only_error(self) -> str | None:
        """dockerd's refusal of any RUN flag, raised when the step is dispatched."""
        if not self.flags_used:
            return None
        return (
            f"the --{self.flags_used[0]} option requires BuildKit. Refer to "
            "https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
        )


@dataclass(kw_only=True)
class CmdCommand(_ShellDependent):
    pass


@dataclass(kw_only=True)
class EntrypointCommand(_ShellDependent):
    pass


@dataclass(kw_only=True)
class HealthCheckCommand(Command):
    test: list[str]  # ["NONE"], ["CMD", …] or ["CMD-SHELL", "…"]
    interval_ns: int = 0
    timeout_ns: int = 0
    start_period_ns: int = 0
    start_interval_ns: int = 0
    retries: int = 0

    def to_config(self) -> HealthConfig:
        """The ``container.HealthConfig`` (zero fields omitted, as Go's omitempty)."""
        if self.test == ["NONE"]:
            return {"Test": ["NONE"]}
        out: HealthConfig = {"Test": list(self.test)}
        if self.interval_ns:
            out["Interval"] = self.interval_ns
        if self.timeout_ns:
            out["Timeout"] = self.timeout_ns
        if self.start_period_ns:
            out["StartPeriod"] = self.start_period_ns
        if self.start_interval_ns:
            out["StartInterval"] = self.start_interval_ns
        if self.retries:
            out["Retries"] = self.retries
        return out


@dataclass(kw_only=True)
class ExposeCommand(Command):
    ports: list[str]  # sorted, unexpanded (dockerd expands each with process_words)


@dataclass(kw_only=True)
class UserCommand(Command):
    user: str

    def expand(self, fn: Expander) -> None:
        self.user = fn(self.user)


@dataclass(kw_only=True)
class VolumeCommand(Command):
    volumes: list[str]

    def expand(self, fn: Expander) -> None:
        self.volumes = [fn(v) for v in self.volumes]


@dataclass(kw_only=True)
class StopSignalCommand(Command):
    signal: str

    def expand(self, fn: Expander) -> None:
        self.signal = fn(self.signal)


@dataclass(kw_only=True)
class ArgCommand(Command):
    args: list[tuple[str, str | None]]

    def expand(self, fn: Expander) -> None:
        self.args = [(fn(k), None if v is None else fn(v)) for k, v in self.args]


@dataclass(kw_only=True)
class ShellCommand(Command):
    shell: list[str]


@dataclass
class Stage:
    """One ``FROM``: its (lower-cased) name, base, platform flag and commands."""

    name: str
    base_name: str
    platform: str
    commands: list[Command]
    original: str
    line: int = 0

    def __str__(self) -> str:
        return self.original
