"""Exec sessions (``docker exec``): one conmon in ``-e`` mode per session.

Same reasons as for containers: conmon holds the process's stdio and reports its
exit code, and the runtime's ``exec`` does the namespace work. The attached
sequence (podman v4 ``startExec``, checked on this host):

1. start byte → conmon forks; reap its first process;
2. ``{"data": 0}`` on the attach pipe: the attach socket exists; connect to it;
3. second start byte → conmon runs ``runtime exec``;
4. sync pipe: ``{"data": <pid>}`` (or -1 + the runtime's message);
5. sync pipe again: ``{"data": <exit code>}`` when the process ends.

A detached exec (``-d``) skips steps 2–3.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from berthd.runtime import attach as attach_mod
from berthd.runtime.conmon import ConmonHandle, ConmonSettings, exec_argv, read_sync, spawn
from berthd.runtime.monitor import read_exit_status
from berthd.runtime.oci_runtime import OCIRuntime
from berthd.runtime.spawner import ConmonSpawner

__all__ = ["ExecSession", "start_exec"]


class ExecSession:
    """A running exec process: its pid, its attach stream, and its exit code.

    The session owns the task that waits for the exit message on the sync pipe;
    ``close()`` cancels it and releases the pipes and files (the process itself is
    not killed — dockerd does not kill execs on detach either).
    """

    def __init__(
        self,
        exec_id: str,
        container_id: str,
        exec_dir: Path,
        handle: ConmonHandle,
        pid: int,
        session: attach_mod.AttachSession | None,
    ) -> None:
        self.exec_id = exec_id
        self.container_id = container_id
        self.pid = pid
        self.attach = session
        self._dir = exec_dir
        self._handle = handle
        self._exit_task = asyncio.create_task(self._read_exit(), name=f"exec-exit-{exec_id}")

    async def _read_exit(self) -> int:
        loop = asyncio.get_running_loop()
        raw = await loop.sock_recv(self._handle.sync, 65536)
        if raw:
            try:
                return int(json.loads(raw.decode().splitlines()[0])["data"])
            except (ValueError, KeyError, IndexError, TypeError):
                pass
        status = await asyncio.to_thread(read_exit_status, self._dir / "exit" / self.exec_id, None)
        return status.exit_code

    async def wait(self) -> int:
        """The exec process's exit code, once it has ended."""
        return await asyncio.shield(self._exit_task)

    @property
    def running(self) -> bool:
        """False once the exit code is known."""
        return not self._exit_task.done()

    def resize(self, height: int, width: int) -> None:
        """Resize the exec's terminal (``-t`` sessions)."""
        attach_mod.resize(self._dir / "ctl", height, width, self.container_id)

    async def close(self) -> None:
        """Release the pipes and the exit-reading task.

        The directory (process.json, ctl FIFO, exit file) is removed only once the
        process has ended: a still-running detached exec keeps its files, and its
        conmon reaps it as usual.
        """
        finished = self._exit_task.done() and not self._exit_task.cancelled()
        if not self._exit_task.done():
            self._exit_task.cancel()
        try:
            await self._exit_task
        except (asyncio.CancelledError, Exception):  # closing anyway: nothing to report
            pass
        if self.attach is not None:
            self.attach.close()
        self._handle.close()
        if finished:
            await asyncio.to_thread(shutil.rmtree, self._dir, True)


async def start_exec(
    settings: ConmonSettings,
    spawner: ConmonSpawner,
    runtime: OCIRuntime,
    container_id: str,
    exec_id: str,
    exec_dir: Path,
    process: dict[str, Any],
    *,
    stdin: bool = False,
    detach: bool = False,
) -> ExecSession:
    """Start ``process`` (an OCI process object) in a running container.

    ``stdin`` wires the session's stdin (``docker exec -i``); ``detach`` runs it
    with no attach socket at all (``docker exec -d``), output discarded.
    """
    stdin = stdin and not detach
    terminal = bool(process.get("terminal", False))
    (exec_dir / "exit").mkdir(parents=True, exist_ok=True)
    (exec_dir / "process.json").write_text(json.dumps(process))
    argv = exec_argv(
        settings,
        runtime,
        container_id,
        exec_id,
        exec_dir,
        attach=not detach,
        stdin=stdin,
        terminal=terminal,
    )
    handle = await spawn(
        spawner,
        argv,
        attach_pipe=not detach,
        stderr_path=exec_dir / "conmon.err",
        cwd=exec_dir,
    )
    session: attach_mod.AttachSession | None = None
    try:
        if handle.attach is not None:
            await read_sync(handle.attach, "exec", container_id)
            session = await attach_mod.connect(exec_dir / "attach", container_id)
            await asyncio.get_running_loop().sock_sendall(handle.start, b"0")
        pid = await read_sync(handle.sync, "exec", container_id)
    except BaseException:
        if session is not None:
            session.close()
        handle.close()
        shutil.rmtree(exec_dir, ignore_errors=True)
        raise
    return ExecSession(exec_id, container_id, exec_dir, handle, pid, session)
