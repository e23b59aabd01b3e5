"""Healthchecks: one monitor task per running container that has a healthcheck.

moby ``daemon/health.go``. The container service tells the monitor when a
container starts and stops (``LifecycleHook``); the monitor owns one task per
container, which sleeps, runs one probe, records it, and only then schedules
the next: a probe that hangs is killed at its timeout and waited for, so
probes never pile up. Probes run as exec sessions through the supervisor (the
container's own process spec, its user and working directory), output capped
at 4 KiB. State.Health (Status, FailingStreak, the last 5 results) lives in
``c.state.health`` — always replaced, never mutated in place, so a checkpoint
running in a worker thread reads one consistent value — and is checkpointed
after each probe. A status change is logged as ``health_status: <status>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from berthd.container import Container
from berthd.daemon.containers.exec import exec_process, new_exec
from berthd.daemon.containers.hooks import TaskPerContainer
from berthd.daemon.containers.seams import ProbeHost
from berthd.lib.timefmt import format_ns, now_ns

__all__ = [
    "HealthMonitor",
    "ProbeResult",
    "Prober",
    "SupervisorProber",
    "apply_result",
    "probe_command",
]

log = logging.getLogger("berthd.health")

SECOND = 1_000_000_000
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT = 4096
# after killing a probe that overran its timeout, how long to wait for it to go
KILL_GRACE = 5.0

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"


@dataclass
class ProbeResult:
    exit_code: int
    output: str
    start: int = 0  # ns
    end: int = 0


class Prober(Protocol):
    async def run(self, c: Container, cmd: list[str], timeout: float) -> ProbeResult:
        """Run ``cmd`` in ``c``; ExitCode -1 with a message when it overran or failed."""
        ...


def _ns(value: Any, default: int) -> int:
    try:
        n = int(value or 0)
    except (TypeError, ValueError):
        n = 0
    return n if n > 0 else default


def probe_command(c: Container) -> list[str] | None:
    """The probe's argv; None when there is no healthcheck (or ``NONE``)."""
    hc = c.config.get("Healthcheck") or {}
    test = list(hc.get("Test") or [])
    if not test:
        return None
    if test[0] == "CMD" and len(test) > 1:
        return [str(a) for a in test[1:]]
    if test[0] == "CMD-SHELL" and len(test) > 1:
        shell = [str(a) for a in c.config.get("Shell") or []] or ["/bin/sh", "-c"]
        return [*shell, *(str(a) for a in test[1:])]
    if test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        log.warning("Unknown healthcheck type '%s' (expected 'CMD') in container %s", test[0], c.id)
    return None


def _timing(c: Container) -> tuple[int, int, int, int, int]:
    hc = c.config.get("Healthcheck") or {}
    return (
        _ns(hc.get("Interval"), DEFAULT_INTERVAL),
        _ns(hc.get("Timeout"), DEFAULT_TIMEOUT),
        _ns(hc.get("StartPeriod"), DEFAULT_START_PERIOD),
        _ns(hc.get("StartInterval"), DEFAULT_START_INTERVAL),
        int(hc.get("Retries") or 0) if int(hc.get("Retries") or 0) > 0 else DEFAULT_RETRIES,
    )


def next_interval(c: Container, now: int) -> int:
    """dockerd's ``getInterval``: the start interval while starting in the start period."""
    interval, _, start_period, start_interval, _ = _timing(c)
    elapsed = now - c.state.started_at
    if elapsed >= start_period:
        return interval
    remaining = start_period - elapsed
    if remaining < interval:
        return remaining
    if c.state.health_status() == STARTING:
        return start_interval
    return interval


def apply_result(
    health: dict[str, Any] | None,
    result: ProbeResult,
    retries: int,
    start_period: int,
    started_at: int,
) -> dict[str, Any]:
    """dockerd's ``handleProbeResult``: the new State.Health (a new dict)."""
    old = dict(health or {})
    status = str(old.get("Status") or STARTING)
    streak = int(old.get("FailingStreak") or 0)
    entry = {
        "Start": format_ns(result.start),
        "End": format_ns(result.end),
        "ExitCode": result.exit_code,
        "Output": result.output,
    }
    entries = [*list(old.get("Log") or []), entry][-MAX_LOG_ENTRIES:]
    if result.exit_code == 0:
        streak = 0
        status = HEALTHY
    else:
        in_grace = status == STARTING and result.start - started_at < start_period
        if not in_grace:
            streak += 1
            if streak >= retries:
                status = UNHEALTHY
    return {"Status": status, "FailingStreak": streak, "Log": entries}


class _Output:
    """Up to MAX_OUTPUT bytes; '...' when more came (dockerd's limitedBuffer)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.truncated = False

    def write(self, data: bytes) -> None:
        keep = MAX_OUTPUT - len(self.buf)
        if keep > 0:
            self.buf += data[:keep]
        if len(data) > keep:
            self.truncated = True

    def text(self) -> str:
        out = self.buf.decode(errors="replace")
        return out + "..." if self.truncated else out


def _go_duration(ns: int) -> str:
    """Go's ``time.Duration.String`` for whole seconds and milliseconds (the usual cases)."""
    if ns % SECOND == 0:
        secs = ns // SECOND
        h, rem = divmod(secs, 3600)
        m, s = divmod(rem, 60)
        if h:
            return f"{h}h{m}m{s}s"
        if m:
            return f"{m}m{s}s"
        return f"{s}s"
    if ns < SECOND:
        return f"{ns / 1e6:g}ms"
    return f"{ns / 1e9:g}s"


class SupervisorProber:
    """Probes as exec sessions of the container service (its supervisor and bundle)."""

    def __init__(self, containers: ProbeHost) -> None:
        self.containers = containers

    async def run(self, c: Container, cmd: list[str], timeout: float) -> ProbeResult:
        svc = self.containers
        body = {
            "Cmd": cmd,
            "User": c.config.get("User") or "",
            "WorkingDir": c.config.get("WorkingDir") or "",
            "AttachStdout": True,
            "AttachStderr": True,
        }
        rec = new_exec(c, body)
        process = await asyncio.to_thread(exec_process, rec, svc.paths.bundle_dir(c.id))
        svc.log_event(c, "exec_create: " + " ".join(cmd), {"execID": rec.id})
        session = await svc.supervisor.exec(c.id, rec.id, process, stdin=False, detach=False)
        svc.log_event(c, "exec_start: " + " ".join(cmd), {"execID": rec.id})
        pidfd = -1
        with contextlib.suppress(OSError):
            pidfd = os.pidfd_open(session.pid)
        out = _Output()

        async def collect() -> int:
            if session.attach is not None:
                while (msg := await session.attach.recv()) is not None:
                    out.write(msg[1])
            code: int = await session.wait()
            return code

        task = asyncio.create_task(collect())
        try:
            try:
                code = await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                self._kill(pidfd)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), KILL_GRACE)
                msg = f"Health check exceeded timeout ({_go_duration(int(timeout * 1e9))})"
                text = out.text()
                return ProbeResult(-1, f"{msg}: {text}" if text else msg)
            svc.log_event(c, "exec_die", {"execID": rec.id, "exitCode": str(code)})
            return ProbeResult(code, out.text())
        finally:
            if not task.done():
                self._kill(pidfd)
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            if pidfd >= 0:
                os.close(pidfd)
            await session.close()

    @staticmethod
    def _kill(pidfd: int) -> None:
        if pidfd >= 0:
            with contextlib.suppress(OSError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)


class HealthMonitor(TaskPerContainer):
    """A ``LifecycleHook``: starts and stops one probe loop per container."""

    def __init__(
        self,
        prober: Prober,
        log_event: Callable[[Container, str], None],
        checkpoint: Callable[[Container], None],
        clock: Callable[[], int] = now_ns,
    ) -> None:
        self.prober = prober
        self._log_event = log_event
        self._checkpoint = checkpoint
        self._clock = clock
        super().__init__()

    # -- LifecycleHook ---------------------------------------------------------------------
    def started(self, c: Container) -> None:
        """dockerd's ``initHealthMonitor``: reset to ``starting`` and begin probing."""
        self._cancel(c.id)
        cmd = probe_command(c)
        if cmd is None:
            return
        old = c.state.health or {}
        c.state.health = {"Status": STARTING, "FailingStreak": 0, "Log": list(old.get("Log") or [])}
        self._run(c.id, self._loop(c, cmd), f"health-{c.short_id}")

    def stopped(self, c: Container) -> None:
        """The container exited: stop probing (a running probe is killed)."""
        self._cancel(c.id)

    # --------------------------------------------------------------------------------------
    def monitoring(self, cid: str) -> bool:
        task = self._tasks.get(cid)
        return task is not None and not task.done()

    async def _loop(self, c: Container, cmd: list[str]) -> None:
        _, timeout, start_period, _, retries = _timing(c)
        while True:
            delay = next_interval(c, self._clock())
            await asyncio.sleep(max(delay, 0) / 1e9)
            if not c.state.running or c.state.restarting:
                return
            if c.state.paused:
                continue  # dockerd stops the monitor while paused
            start = self._clock()
            try:
                result = await self.prober.run(c, cmd, timeout / 1e9)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("Health check for container %s error: %s", c.id, e)
                result = ProbeResult(-1, str(e))
            result.start, result.end = start, result.end or self._clock()
            await self.record(c, result, retries, start_period)

    async def record(
        self, c: Container, result: ProbeResult, retries: int, start_period: int
    ) -> None:
        """Apply one probe's result, checkpoint, and log a status change."""
        old = c.state.health_status()
        c.state.health = apply_result(
            c.state.health, result, retries, start_period, c.state.started_at
        )
        new = c.state.health_status()
        try:
            await asyncio.to_thread(self._checkpoint, c)
        except Exception as e:  # best effort, as dockerd (in memory only there)
            log.warning("could not checkpoint health of %s: %s", c.short_id, e)
        if new != old:
            self._log_event(c, "health_status: " + new)
