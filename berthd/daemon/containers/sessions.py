"""Attach and exec sessions: the streams between a client and a process."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from berthd import errdefs
from berthd.daemon.containers.attach import AttachPlan, plan_attach, run_attach
from berthd.daemon.containers.base import (
    ServiceBase,
)
from berthd.daemon.containers.exec import ExecRecord, exec_process, new_exec
from berthd.daemon.containers.logs import LogsOptions, stream_logs
from berthd.daemon.containers.streams import (
    DEFAULT_DETACH_KEYS,
    ClientConn,
    detach_key_bytes,
    pump,
)
from berthd.runtime.errors import RuntimeStartError


class SessionsMixin(ServiceBase):
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
        return plan_attach(self.get(ref), stdin, stdout, stderr, stream, logs, detach_keys)

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
        self.log_event(c, "attach")
        session = None
        pending = None
        if c.state.running:
            session = await self.supervisor.attach(c.id)
        else:
            pending = self.pending_attaches.wait_for_start(c.id)
        detached = await run_attach(plan, conn, session, pending)
        if detached:
            self.log_event(c, "detach")

    # -- exec ---------------------------------------------------------------------------------
    def exec_create(self, ref: str, body: Any) -> dict[str, str]:
        c = self.get(ref)
        rec = new_exec(c, body, ref)
        if rec.detach_keys and detach_key_bytes(rec.detach_keys) is None:
            # (dockerd answers 500 with these words: a client's mistake is a 400 here)
            raise errdefs.InvalidParameter(f"Invalid escape keys ({rec.detach_keys}) provided")
        self.execs[rec.id] = rec
        c.exec_ids.add(rec.id)
        self.log_event(c, "exec_create: " + " ".join(rec.cmd), {"execID": rec.id})
        return {"Id": rec.id}

    def get_exec(self, exec_id: str) -> ExecRecord:
        rec = self.execs.get(exec_id)
        if rec is None:
            raise errdefs.NotFound(f"No such exec instance: {exec_id}")
        return rec

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
            process = await asyncio.to_thread(exec_process, rec, self.paths.bundle_dir(c.id))
        except errdefs.BerthdError:
            rec.exit_code = 126  # dockerd: an exec that cannot start exits 126
            raise
        try:
            session = await self.supervisor.exec(
                c.id, rec.id, process, stdin=rec.attach_stdin and not detach, detach=detach
            )
        except RuntimeStartError as e:
            rec.exit_code = e.exit_code
            raise
        rec.session = session
        rec.running = True
        rec.pid = session.pid
        self.log_event(c, "exec_start: " + " ".join(rec.cmd), {"execID": rec.id})
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
                    self.log_event(c, "exec_detach", {"execID": rec.id})
                self._finish_exec_later(rec)
            else:
                await self._finish_exec(rec)

    @staticmethod
    def _exec_detach_keys(rec: ExecRecord) -> bytes | None:
        """As dockerd: only a tty exec's stdin is watched for the detach keys
        (its own or ctrl-p,ctrl-q); other streams pass every byte through."""
        if not (rec.tty and rec.attach_stdin):
            return None
        return detach_key_bytes(rec.detach_keys or DEFAULT_DETACH_KEYS)

    def _finish_exec_later(self, rec: ExecRecord) -> None:
        task = asyncio.create_task(self._finish_exec(rec), name=f"exec-{rec.id[:12]}")
        self._exec_tasks.add(task)
        task.add_done_callback(self._exec_tasks.discard)

    async def _finish_exec(self, rec: ExecRecord) -> None:
        session = rec.session
        if session is None:
            return
        try:
            rec.exit_code = await session.wait()
        finally:
            rec.running = False
            await session.close()
        self.log_event(
            rec.container, "exec_die", {"execID": rec.id, "exitCode": str(rec.exit_code)}
        )

    def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        rec = self.get_exec(exec_id)
        if rec.session is None or not rec.running:
            raise errdefs.Conflict(f"Exec {exec_id} is not running")
        rec.session.resize(height, width)
