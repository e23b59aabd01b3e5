"""The step's ``container.Config`` (moby's ``runConfig``) and its helpers.

A typed copy of the fields the builder reads and writes; ``to_api`` gives the
Engine API dict the daemon takes and stores in the image (Go's field order and
``omitempty`` rules are the image writer's business, not ours).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from berthd.builder.backend import ContainerConfig
from berthd.lib.goduration import format_duration
from berthd.lib.strconv import quote, quote_list

__all__ = [
    "DEFAULT_SHELL",
    "Health",
    "RunConfig",
    "go_list",
    "health_quote",
]

DEFAULT_SHELL = ["/bin/sh", "-c"]


@dataclass
class Health:
    test: list[str]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    def to_api(self) -> dict[str, object]:
        out: dict[str, object] = {"Test": list(self.test)}
        for key, value in (
            ("Interval", self.interval),
            ("Timeout", self.timeout),
            ("StartPeriod", self.start_period),
            ("StartInterval", self.start_interval),
            ("Retries", self.retries),
        ):
            if value:
                out[key] = value
        return out


@dataclass
class RunConfig:
    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    exposed_ports: dict[str, dict[str, object]] | None = None
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: list[str] | None = None
    cmd: list[str] | None = None
    healthcheck: Health | None = None
    args_escaped: bool = False
    image: str = ""
    volumes: dict[str, dict[str, object]] | None = None
    working_dir: str = ""
    entrypoint: list[str] | None = None
    network_disabled: bool = False
    on_build: list[str] | None = None
    labels: dict[str, str] | None = None
    stop_signal: str = ""
    stop_timeout: int | None = None
    shell: list[str] | None = None
    extra: dict[str, object] = field(default_factory=dict)  # fields we only carry

    def copy(self) -> RunConfig:
        return copy.deepcopy(self)

    def replace(self, **changes: object) -> RunConfig:
        out = self.copy()
        for k, v in changes.items():
            setattr(out, k, copy.deepcopy(v))
        return out

    def get_shell(self) -> list[str]:
        return list(self.shell) if self.shell else list(DEFAULT_SHELL)

    def with_nop(self, comment: str) -> RunConfig:
        """``withCmdComment``: SHELL + ["#(nop) ", comment] (two words)."""
        return self.replace(cmd=[*self.get_shell(), "#(nop) ", comment])

    def with_nop_string(self, comment: str) -> RunConfig:
        """``withCmdCommentString``: SHELL + ["#(nop) " + comment] (WORKDIR, COPY, ADD)."""
        return self.replace(cmd=[*self.get_shell(), "#(nop) " + comment])

    # -- API dicts ------------------------------------------------------------------
    def to_api(self) -> ContainerConfig:
        out: ContainerConfig = dict(self.extra)
        out.update(
            {
                "Hostname": self.hostname,
                "Domainname": self.domainname,
                "User": self.user,
                "AttachStdin": self.attach_stdin,
                "AttachStdout": self.attach_stdout,
                "AttachStderr": self.attach_stderr,
            }
        )
        if self.exposed_ports is not None:
            out["ExposedPorts"] = copy.deepcopy(self.exposed_ports)
        out.update(
            {
                "Tty": self.tty,
                "OpenStdin": self.open_stdin,
                "StdinOnce": self.stdin_once,
                "Env": list(self.env) if self.env is not None else None,
                "Cmd": list(self.cmd) if self.cmd is not None else None,
            }
        )
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_api()
        if self.args_escaped:
            out["ArgsEscaped"] = True
        out["Image"] = self.image
        out["Volumes"] = copy.deepcopy(self.volumes)
        out["WorkingDir"] = self.working_dir
        out["Entrypoint"] = list(self.entrypoint) if self.entrypoint is not None else None
        if self.network_disabled:
            out["NetworkDisabled"] = True
        out["OnBuild"] = list(self.on_build) if self.on_build is not None else None
        out["Labels"] = dict(self.labels) if self.labels is not None else None
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.stop_timeout is not None:
            out["StopTimeout"] = self.stop_timeout
        if self.shell is not None:
            out["Shell"] = list(self.shell)
        return out

    @classmethod
    def from_api(cls, doc: ContainerConfig | None) -> RunConfig:
        d = dict(doc or {})
        known = {
            "Hostname",
            "Domainname",
            "User",
            "AttachStdin",
            "AttachStdout",
            "AttachStderr",
            "ExposedPorts",
            "Tty",
            "OpenStdin",
            "StdinOnce",
            "Env",
            "Cmd",
            "Healthcheck",
            "ArgsEscaped",
            "Image",
            "Volumes",
            "WorkingDir",
            "Entrypoint",
            "NetworkDisabled",
            "OnBuild",
            "Labels",
            "StopSignal",
            "StopTimeout",
            "Shell",
        }
        hc = d.get("Healthcheck")
        health = None
        if isinstance(hc, dict):
            health = Health(
                test=_strs(hc.get("Test")) or [],
                interval=_int(hc.get("Interval")),
                timeout=_int(hc.get("Timeout")),
                start_period=_int(hc.get("StartPeriod")),
                start_interval=_int(hc.get("StartInterval")),
                retries=_int(hc.get("Retries")),
            )
        stop_timeout = d.get("StopTimeout")
        return cls(
            hostname=_str(d.get("Hostname")),
            domainname=_str(d.get("Domainname")),
            user=_str(d.get("User")),
            attach_stdin=bool(d.get("AttachStdin")),
            attach_stdout=bool(d.get("AttachStdout")),
            attach_stderr=bool(d.get("AttachStderr")),
            exposed_ports=_set(d.get("ExposedPorts")),
            tty=bool(d.get("Tty")),
            open_stdin=bool(d.get("OpenStdin")),
            stdin_once=bool(d.get("StdinOnce")),
            env=_strs(d.get("Env")),
            cmd=_strs(d.get("Cmd")),
            healthcheck=health,
            args_escaped=bool(d.get("ArgsEscaped")),
            image=_str(d.get("Image")),
            volumes=_set(d.get("Volumes")),
            working_dir=_str(d.get("WorkingDir")),
            entrypoint=_strs(d.get("Entrypoint")),
            network_disabled=bool(d.get("NetworkDisabled")),
            on_build=_strs(d.get("OnBuild")),
            labels={str(k): str(v) for k, v in lab.items()}
            if isinstance(lab := d.get("Labels"), dict)
            else None,
            stop_signal=_str(d.get("StopSignal")),
            stop_timeout=stop_timeout if isinstance(stop_timeout, int) else None,
            shell=_strs(d.get("Shell")),
            extra={k: v for k, v in d.items() if k not in known},
        )


def _str(v: object) -> str:
    return v if isinstance(v, str) else ""


def _int(v: object) -> int:
    return v if isinstance(v, int) else 0


def _strs(v: object) -> list[str] | None:
    if isinstance(v, list):
        return [str(x) for x in v]
    if isinstance(v, str):
        return [v]
    return None


def _set(v: object) -> dict[str, dict[str, object]] | None:
    if isinstance(v, dict):
        return {str(k): {} for k in v}
    return None


# -- Go's fmt verbs, as dockerd formats history lines ------------------------------------
def go_list(items: list[str] | None) -> str:
    """``%v`` of a []string: ``[a b]``."""
    return "[" + " ".join(items or []) + "]"


def health_quote(h: Health) -> str:
    """``%q`` of a *HealthConfig: ``&{["CMD" "x"] "1s" "0s" "0s" "0s" '\\x03'}``."""
    retries = h.retries
    rq = "'\\x00'" if retries == 0 else _go_rune(retries)
    parts = [
        quote_list(h.test),
        quote(format_duration(h.interval)),
        quote(format_duration(h.timeout)),
        quote(format_duration(h.start_period)),
        quote(format_duration(h.start_interval)),
        rq,
    ]
    return "&{" + " ".join(parts) + "}"


def _go_rune(n: int) -> str:
    ch = chr(n) if 0 <= n < 0x110000 else "\ufffd"
    if ch == "'":
        return "'\\''"
    q = quote(ch)[1:-1]
    return "'" + (q if q != '\\"' else '"') + "'"
