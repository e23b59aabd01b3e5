"""Launching conmon, the per-container (and per-exec) monitor process.

conmon is the parent of the container process: it holds its stdio, writes the log,
records the exit code in files and serves the attach socket. It double-forks and is
re-parented to PID 1, so containers outlive the daemon (live-restore).

The handshake, as podman v4 does it (libpod/oci_conmon_common.go) and as measured
on this host (research/runtime-spikes.md §2):

1. sync and start pipes are ``socketpair(AF_UNIX, SOCK_SEQPACKET)``; the child ends
   go to conmon by fd number in ``_OCI_SYNCPIPE`` / ``_OCI_STARTPIPE`` (and
   ``_OCI_ATTACHPIPE`` for exec);
2. conmon blocks on the start pipe; it must be in its own cgroup before we write
   the byte (so stopping the daemon's service does not kill it) — it is born
   there, forked by ``ConmonSpawner``'s parked thread — then we write one byte;
3. conmon forks, its first process exits and we reap it; the grandchild runs
   ``runtime create`` and writes ``{"data": <pid>}`` (or ``{"data": -1,
   "message": …}``) to the sync pipe.

We never pass ``--sync``: it keeps conmon a child of ours, which defeats
live-restore.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berthd import errdefs
from berthd.runtime.errors import classify, clean_message
from berthd.runtime.oci_runtime import OCIRuntime
from berthd.runtime.spawner import ConmonSpawner

__all__ = [
    "ConmonHandle",
    "ConmonSettings",
    "CreateOptions",
    "container_argv",
    "exec_argv",
    "read_sync",
    "spawn",
]

SYNC_TIMEOUT = 60.0


@dataclass(frozen=True)
class ConmonSettings:
    """How the daemon runs conmon: binary, log level and the cgroup it moves conmon to.

    ``cgroup`` is an absolute cgroup path (e.g. ``/berthd/conmon``); conmon is moved
    there in every hierarchy where the daemon is not in the root cgroup (or in all
    of them with ``move_all_hierarchies``); ``None`` leaves conmon in the daemon's
    cgroups.
    """

    path: str = "/usr/bin/conmon"
    cgroup: str | None = "/berthd/conmon"
    log_level: str = "info"
    move_all_hierarchies: bool = False


@dataclass(frozen=True)
class CreateOptions:
    """What the daemon decides about one container's stdio, log and files.

    ``stdin_once`` mirrors Docker's ``StdinOnce``: when it is False conmon gets
    ``--leave-stdin-open`` so detaching an attach client does not close the
    container's stdin. ``persist_dir`` receives conmon's ``exit`` and ``oom`` files
    (the container's directory under the data root, so they survive the exec-root).
    """

    bundle: Path
    persist_dir: Path
    log_path: Path | None = None
    log_size_max: int = -1
    terminal: bool = False
    stdin: bool = False
    stdin_once: bool = False
    name: str = ""
    extra_args: tuple[str, ...] = field(default=())


def _common_argv(
    settings: ConmonSettings,
    runtime: OCIRuntime,
    container_id: str,
    uuid: str,
    bundle: Path,
    pidfile: Path,
    exit_dir: Path,
) -> list[str]:
    return [
        settings.path,
        "--api-version",
        "1",
        "-c",
        container_id,
        "-u",
        uuid,
        "-r",
        runtime.path,
        "-b",
        str(bundle),
        "-p",
        str(pidfile),
        "--exit-dir",
        str(exit_dir),
        "--full-attach",
        "--socket-dir-path",
        str(bundle),
        "--log-level",
        settings.log_level,
        *runtime.conmon_args(),
    ]


def container_argv(
    settings: ConmonSettings,
    runtime: OCIRuntime,
    container_id: str,
    opts: CreateOptions,
    exit_dir: Path,
    conmon_pidfile: Path,
) -> list[str]:
    """conmon's argv for a container (podman's ``createOCIContainer``, minus podman)."""
    argv = _common_argv(
        settings,
        runtime,
        container_id,
        container_id,
        opts.bundle,
        opts.bundle / "pidfile",
        exit_dir,
    )
    argv += [
        "-n",
        opts.name or container_id,
        "--persist-dir",
        str(opts.persist_dir),
        "--conmon-pidfile",
        str(conmon_pidfile),
    ]
    if opts.log_path is not None:
        argv += ["-l", f"k8s-file:{opts.log_path}"]
        if opts.log_size_max > 0:
            argv += ["--log-size-max", str(opts.log_size_max)]
    else:
        argv += ["-l", "none"]
    if opts.terminal:
        argv.append("-t")
    if opts.stdin:
        argv.append("-i")
        # dockerd closes a container's stdin when an attach ends only for
        # StdinOnce containers without a TTY: `run -it` can be re-attached
        if not opts.stdin_once or opts.terminal:
            argv.append("--leave-stdin-open")
    argv += opts.extra_args
    return argv


def exec_argv(
    settings: ConmonSettings,
    runtime: OCIRuntime,
    container_id: str,
    exec_id: str,
    exec_dir: Path,
    *,
    attach: bool,
    stdin: bool,
    terminal: bool,
) -> list[str]:
    """conmon's argv for an exec session (podman's ``startExec``)."""
    argv = _common_argv(
        settings,
        runtime,
        container_id,
        exec_id,
        exec_dir,
        exec_dir / "pid",
        exec_dir / "exit",
    )
    argv += [
        "-n",
        exec_id,
        "--conmon-pidfile",
        str(exec_dir / "conmon.pid"),
        "-l",
        "none",
        "-e",
        "--exec-process-spec",
        str(exec_dir / "process.json"),
    ]
    if attach:
        argv.append("--exec-attach")
    if terminal:
        argv.append("-t")
    if stdin:
        argv.append("-i")
    return argv


@dataclass
class ConmonHandle:
    """Our ends of the pipes to one freshly started conmon, after the first fork."""

    sync: socket.socket
    start: socket.socket
    attach: socket.socket | None

    def close(self) -> None:
        """Close every pipe end we still hold."""
        for s in (self.sync, self.start, self.attach):
            if s is not None:
                s.close()


def _pair() -> tuple[socket.socket, socket.socket]:
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent.setblocking(False)
    child.set_inheritable(True)
    return parent, child


async def spawn(
    spawner: ConmonSpawner,
    argv: list[str],
    *,
    attach_pipe: bool,
    stderr_path: Path,
    cwd: Path,
) -> ConmonHandle:
    """Start conmon (in its cgroup, see ``ConmonSpawner``), let it fork, reap the
    first process.

    ``stderr_path`` collects conmon's own diagnostics (they rarely matter: failures
    of the runtime arrive on the sync pipe). ``cwd`` matters: on cgroup v1 conmon
    also drops its ``oom`` file into its working directory (found the hard way: a
    stray ``oom`` in the daemon's cwd), so it runs in the bundle directory.
    """
    sync_p, sync_c = _pair()
    start_p, start_c = _pair()
    attach_p, attach_c = _pair() if attach_pipe else (None, None)
    env = {
        "PATH": os.environ.get(
            "PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ),
        "HOME": os.environ.get("HOME", "/root"),
        "_OCI_SYNCPIPE": str(sync_c.fileno()),
        "_OCI_STARTPIPE": str(start_c.fileno()),
    }
    fds = [sync_c.fileno(), start_c.fileno()]
    if attach_c is not None:
        env["_OCI_ATTACHPIPE"] = str(attach_c.fileno())
        fds.append(attach_c.fileno())
    handle = ConmonHandle(sync_p, start_p, attach_p)
    err_fd = os.open(stderr_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        proc = await spawner.launch(argv, env=env, fds=fds, err_fd=err_fd, cwd=cwd)
    except OSError as e:
        handle.close()
        raise errdefs.System(f"failed to start conmon ({argv[0]}): {e.strerror}") from e
    finally:
        os.close(err_fd)
        for s in (sync_c, start_c, attach_c):
            if s is not None:
                s.close()
    try:
        # conmon is already in its cgroup: the start byte lets it fork the container
        await asyncio.get_running_loop().sock_sendall(start_p, b"0")
        rc = await spawner.wait(proc)
    except BaseException:
        handle.close()
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        raise
    if rc != 0:
        handle.close()
        text = await asyncio.to_thread(stderr_path.read_text, errors="replace")
        detail = text.strip().splitlines()
        raise errdefs.System(f"conmon failed (exit {rc}): {detail[-1] if detail else 'no message'}")
    return handle


async def read_sync(
    sock: socket.socket, verb: str, container_id: str, timeout: float = SYNC_TIMEOUT
) -> int:
    """Read one ``{"data": N[, "message": M]}`` from a conmon pipe; raise on N < 0.

    A negative value means the runtime failed; its stderr is the message, which we
    classify like dockerd does (missing executable → 127 and so on).
    """
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            raw = await loop.sock_recv(sock, 65536)
    except TimeoutError as e:
        raise errdefs.System(f"conmon did not report back for {container_id}") from e
    if not raw:
        raise errdefs.System(f"conmon exited before reporting the {verb} of {container_id}")
    try:
        msg: dict[str, Any] = json.loads(raw.decode(errors="replace").strip().splitlines()[0])
        value = int(msg["data"])
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise errdefs.System(f"conmon sent an unreadable message: {raw!r}") from e
    if value < 0:
        raise classify(verb, _runtime_text(str(msg.get("message", ""))), container_id)
    return value


def _runtime_text(message: str) -> str:
    """conmon passes the runtime's stderr through; keep only the runtime's words."""
    return clean_message(message) if message else "runtime failed without a message"
