"""``docker exec``: exec instances, their process spec, and their lifecycle.

An exec instance is created (``POST /containers/{id}/exec``), started once
(``POST /exec/{id}/start``, hijacked or detached) and inspected for its exit
code. Its OCI process is the container's own (capabilities, rlimits,
no-new-privileges, apparmor) with the exec's argv, env, user, cwd and tty.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.streams import detach_key_bytes
from berthd.oci.caps import all_capabilities
from berthd.oci.user import spec_user
from berthd.runtime.exec import ExecSession

__all__ = ["ExecRecord", "exec_process", "new_exec"]


@dataclass
class ExecRecord:
    id: str
    container: Container
    cmd: list[str]
    env: list[str]
    user: str
    working_dir: str
    tty: bool  # the process gets a terminal (create's Tty; the start cannot change it)
    privileged: bool
    attach_stdin: bool
    attach_stdout: bool
    attach_stderr: bool
    detach_keys: str
    console_size: list[int] | None
    # the start's Tty: the stream is raw (no frames, no stderr) rather than multiplexed
    raw_stream: bool = False
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0
    # the record's container lists it no more (it ended, or the container stopped) and
    # a collection pass has seen that: the next pass deletes it (moby's CanRemove)
    can_remove: bool = False
    session: ExecSession | None = field(default=None, repr=False)

    def to_api(self) -> dict[str, Any]:
        return {
            "CanRemove": self.can_remove,
            "ContainerID": self.container.id,
            # dockerd keeps the key bytes ([]byte), which Go's JSON writes as base64
            "DetachKeys": base64.b64encode(detach_key_bytes(self.detach_keys) or b"").decode()
            if self.detach_keys
            else "",
            "ExitCode": self.exit_code,
            "ID": self.id,
            "OpenStderr": self.attach_stderr,
            "OpenStdin": self.attach_stdin,
            "OpenStdout": self.attach_stdout,
            "ProcessConfig": {
                "arguments": self.cmd[1:],
                "entrypoint": self.cmd[0] if self.cmd else "",
                "privileged": self.privileged,
                "tty": self.tty,
                **({"user": self.user} if self.user else {}),  # omitempty
            },
            "Running": self.running,
            "Pid": self.pid,
        }


def new_exec(c: Container, body: Any, ref: str = "") -> ExecRecord:
    if not isinstance(body, dict):
        raise errdefs.InvalidParameter("invalid JSON: exec configuration must be an object")
    cmd = body.get("Cmd")
    if isinstance(cmd, str):
        cmd = [cmd]
    if not cmd:
        raise errdefs.InvalidParameter("No exec command specified")
    if not all(isinstance(a, str) for a in cmd):
        raise errdefs.InvalidParameter("json: cannot unmarshal into Cmd of type []string")
    env = body.get("Env") or []
    for e in env:
        if not isinstance(e, str) or e.startswith("="):
            raise errdefs.InvalidParameter(f"invalid environment variable: {e}")
    if not c.state.running:
        raise errdefs.Conflict(f"container {c.id} is not running")
    if c.state.paused:
        raise errdefs.Conflict(
            f"Container {ref or c.id} is paused, unpause the container before exec"
        )
    if c.state.restarting:
        raise errdefs.Conflict(
            f"container {c.id} is restarting, wait until the container is running"
        )
    return ExecRecord(
        id=secrets.token_hex(32),
        container=c,
        cmd=list(cmd),
        env=list(env),
        user=str(body.get("User") or ""),
        working_dir=str(body.get("WorkingDir") or ""),
        tty=bool(body.get("Tty")),
        privileged=bool(body.get("Privileged")),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        detach_keys=str(body.get("DetachKeys") or ""),
        console_size=body.get("ConsoleSize"),
    )


def _merge_env(base: list[str], extra: list[str]) -> list[str]:
    out = list(base)
    index = {e.partition("=")[0]: i for i, e in enumerate(out)}
    for e in extra:
        key = e.partition("=")[0]
        if key in index:
            out[index[key]] = e
        else:
            index[key] = len(out)
            out.append(e)
    return out


def exec_process(rec: ExecRecord, bundle_dir: str) -> dict[str, Any]:
    """The OCI process for the exec (blocking: reads the bundle and the rootfs)."""
    with open(os.path.join(bundle_dir, "config.json"), "rb") as f:
        spec = orjson.loads(f.read())
    process: dict[str, Any] = dict(spec["process"])
    rootfs = spec["root"]["path"]
    process["args"] = rec.cmd
    process["terminal"] = rec.tty
    process["env"] = _merge_env(list(process.get("env") or []), rec.env)
    if rec.working_dir:
        process["cwd"] = rec.working_dir
    if rec.user:
        group_add = rec.container.host_config.get("GroupAdd") or []
        user, home = spec_user(rootfs, rec.user, list(group_add))
        process["user"] = user
        if home and not any(e.startswith("HOME=") for e in rec.env):
            process["env"] = _merge_env(process["env"], [f"HOME={home}"])
    if rec.tty:
        if not any(e.startswith("TERM=") for e in process["env"]):
            process["env"].append("TERM=xterm")
        if rec.console_size and len(rec.console_size) == 2:
            h, w = rec.console_size
            process["consoleSize"] = {"height": int(h), "width": int(w)}
    if rec.privileged:
        caps = all_capabilities()
        process["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    return process
