"""Attach and exec sessions: the streams between a client and a process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from berthd import errdefs
from berthd.daemon.containers.attach import AttachPlan, plan_attach, run_attach
from berthd.daemon.containers.context import ContainerContext, log
from berthd.daemon.containers.exec import ExecRecord, exec_process, new_exec
from berthd.daemon.containers.execstore import ExecStore
from berthd.daemon.containers.logs import LogsOptions, stream_logs
from berthd.daemon.containers.streams import (
    DEFAULT_DETACH_KEYS,
    ClientConn,
    detach_key_bytes,
    pump,
)
from berthd.runtime.errors import RuntimeStartError

__all__ = ["ContainerSessions", "PreparedAttach", "PreparedExec"]


class ContainerSessions:
    """moby's daemon/attach.go and exec.go: the streams between clients and processes.

    Owns the tasks that finish detached or abandoned execs (``close`` awaits
    them); the exec records live in the ``ExecStore`` it is given.
    """

    def __init__(self, ctx: ContainerContext, execs: ExecStore) -> None:
        self._ctx = ctx
        self.execs = execs
        self._exec_tasks: set[asyncio.Task[None]] = set()

    # -- attach -------------------------------------------------------------------------------
    def plan_attach(
        self,
        ref: str,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        stream: bool,
        logs: bool,
        detach_keys: str,
    ) -> AttachPlan:
        return plan_attach(self._ctx.get(ref), stdin, stdout, stderr, stream, logs, detach_keys)

    async def attach(self, plan: AttachPlan, conn: ClientConn) -> None:
        c = plan.container
        if plan.logs and c.log_path:
            replay = LogsOptions(
                stdout=plan.stdout,
                stderr=plan.stderr,
                follow=False,
                since_ns=0,
                until_ns=0,
                timestamps=False,
                tail=None,
            )
            with contextlib.suppress(ConnectionResetError, OSError):
                async for chunk in stream_logs(c, replay, None):
                    await conn.write(chunk)
        if not plan.stream:
            return
        self._ctx.log_event(c, "attach")
        session = None
        pending = None
        if c.state.running:
            session = await self._ctx.supervisor.attach(c.id)
        else:
            pending = self._ctx.pending_attaches.wait_for_start(c.id)
        detached = await run_attach(plan, conn, session, pending)
        if detached:
            self._ctx.log_event(c, "detach")

    # -- exec ---------------------------------------------------------------------------------
    def exec_create(self, ref: str, body: Any) -> dict[str, str]:
        c = self._ctx.get(ref)
        rec = new_exec(c, body, ref)
        if rec.detach_keys and detach_key_bytes(rec.detach_keys) is None:
            # (dockerd answers 500 with these words: a client's mistake is a 400 here)
            raise errdefs.InvalidParameter(f"Invalid escape keys ({rec.detach_keys}) provided")
        self.execs.add(rec)
        self._ctx.log_event(c, "exec_create: " + " ".join(rec.cmd), {"execID": rec.id})
        return {"Id": rec.id}

    def get_exec(self, exec_id: str) -> ExecRecord:
        return self.execs.get(exec_id)

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self.get_exec(exec_id).to_api()

    def exec_prepare(self, exec_id: str, body: Any) -> ExecRecord:
        rec = self.get_exec(exec_id)
        if rec.running:
            raise errdefs.Conflict(f"Error: Exec command {rec.id} is already running")
        if rec.started:
            raise errdefs.Conflict(f"Error: Exec command {rec.id} has already run")
        c = rec.container
        if not c.state.running:
            raise errdefs.Conflict(f"container {c.id} is not running")
        if c.state.paused:
            raise errdefs.Conflict(f"Container {c.id} is paused, unpause the container before exec")
        # as dockerd: the start's Tty only says how the stream is written (raw or
        # multiplexed); whether the process has a terminal was decided at create
        rec.raw_stream = isinstance(body, dict) and bool(body.get("Tty"))
        if rec.raw_stream and isinstance(body, dict) and body.get("ConsoleSize"):
            rec.console_size = body.get("ConsoleSize")
        return rec

    async def exec_start(self, rec: ExecRecord, conn: ClientConn | None) -> None:
        """Run the exec; with ``conn`` None it is detached (``exec -d``)."""
        c = rec.container
        rec.started = True
        detach = conn is None
        try:
            process = await asyncio.to_thread(exec_process, rec, self._ctx.paths.bundle_dir(c.id))
        except errdefs.BerthdError:
            rec.exit_code = 126  # dockerd: an exec that cannot start exits 126
            self.execs.ended(rec)
            raise
        try:
            session = await self._ctx.supervisor.exec(
                c.id, rec.id, process, stdin=rec.attach_stdin and not detach, detach=detach
            )
        except RuntimeStartError as e:
            rec.exit_code = e.exit_code
            self.execs.ended(rec)
            raise
        rec.session = session
        rec.running = True
        rec.pid = session.pid
        self._ctx.log_event(c, "exec_start: " + " ".join(rec.cmd), {"execID": rec.id})
        if detach:
            self._finish_exec_later(rec)
            return
        assert conn is not None
        detached = False
        try:
            if session.attach is not None:
                detached = await pump(
                    conn,
                    session.attach,
                    tty=rec.raw_stream,
                    stdin=rec.attach_stdin,
                    stdout=rec.attach_stdout,
                    # a raw stream has no place for stderr: dockerd drops it
                    stderr=rec.attach_stderr and not rec.raw_stream,
                    detach_keys=self._exec_detach_keys(rec),
                )
        finally:
            if detached or conn.closed:
                # the client's stream ends here (a detach, or the client left: the CLI
                # detaches on its own side); the process runs on, as with dockerd, and
                # nothing is left reading its output
                if session.attach is not None:
                    session.attach.close()
                if detached:
                    self._ctx.log_event(c, "exec_detach", {"execID": rec.id})
                self._finish_exec_later(rec)
            else:
                # the exit code is what the client waits for (it inspects the exec
                # once its stream ends); the pipes and the exec directory go after
                await self._finish_exec(rec, close_later=True)

    @staticmethod
    def _exec_detach_keys(rec: ExecRecord) -> bytes | None:
        """As dockerd: only a tty exec's stdin is watched for the detach keys
        (its own or ctrl-p,ctrl-q); other streams pass every byte through."""
        if not (rec.tty and rec.attach_stdin):
            return None
        return detach_key_bytes(rec.detach_keys or DEFAULT_DETACH_KEYS)

    def _finish_exec_later(self, rec: ExecRecord) -> None:
        self._own_exec_task(self._finish_exec(rec), rec)

    def _own_exec_task(self, work: Coroutine[Any, Any, None], rec: ExecRecord) -> None:
        task = asyncio.create_task(work, name=f"exec-{rec.id[:12]}")
        self._exec_tasks.add(task)
        task.add_done_callback(self._exec_tasks.discard)

    async def _finish_exec(self, rec: ExecRecord, close_later: bool = False) -> None:
        session = rec.session
        if session is None:
            return
        try:
            rec.exit_code = await session.wait()
        finally:
            # as moby: out of the container's list first, then no longer running
            self.execs.ended(rec)
            rec.running = False
            if close_later:
                self._own_exec_task(session.close(), rec)
            else:
                await session.close()
        self._ctx.log_event(
            rec.container, "exec_die", {"execID": rec.id, "exitCode": str(rec.exit_code)}
        )

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        rec = self.get_exec(exec_id)
        if rec.session is None or not rec.running:
            raise errdefs.Conflict(f"Exec {exec_id} is not running")
        rec.session.resize(height, width)

    async def close(self) -> None:
        """At shutdown: cancel the exec tasks and the record collector, and await them."""
        owned = list(self._exec_tasks)
        for task in owned:
            task.cancel()
        for task in owned:
            with contextlib.suppress(asyncio.CancelledError):
                try:
                    await task
                except Exception:
                    log.exception("%s failed at shutdown", task.get_name())
        await self.execs.close()


@dataclass(frozen=True)
class PreparedAttach:
    """An accepted attach request (the router's ``AttachTarget``): its stream kind,
    and the attach to run once the connection is taken over."""

    plan: AttachPlan
    sessions: ContainerSessions

    @property
    def tty(self) -> bool:
        return self.plan.tty

    async def attach(self, conn: ClientConn) -> None:
        await self.sessions.attach(self.plan, conn)


@dataclass(frozen=True)
class PreparedExec:
    """An exec accepted for a start (the router's ``ExecTarget``)."""

    rec: ExecRecord
    sessions: ContainerSessions

    @property
    def raw_stream(self) -> bool:
        return self.rec.raw_stream

    async def start(self, conn: ClientConn | None) -> None:
        await self.sessions.exec_start(self.rec, conn)
