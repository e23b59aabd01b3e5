"""``docker kill``, ``stop`` and ``restart`` (moby daemon/kill.go, stop.go, restart.go)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal as signal_mod

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.context import ContainerContext, log, stop_signal_and_timeout
from berthd.daemon.containers.run import ContainerRunner
from berthd.oci import parse_signal
from berthd.oci.signals import SIGNAL_MAP

_KILL_WAIT = 10.0  # seconds dockerd waits for the exit after a SIGKILL


__all__ = ["ContainerStopper"]


class ContainerStopper:
    """Signals to a container's process, and the waits for its exit (no state of its own)."""

    def __init__(self, ctx: ContainerContext, runner: ContainerRunner) -> None:
        self._ctx = ctx
        self._runner = runner

    async def kill(self, ref: str, sig: str) -> None:
        c = self._ctx.get(ref)
        signum = parse_signal(sig) if sig else signal_mod.SIGKILL
        if signum not in SIGNAL_MAP.values():
            raise errdefs.InvalidParameter(f"the linux daemon does not support signal {signum}")
        if self._runner.restart_pending(c.id):
            # a pending policy restart has no process to signal: it is what dies (one
            # already starting the container is waited for, then its process is killed)
            c.has_been_manually_stopped = True
            if await self._runner.cancel_restart(c):
                self._ctx.log_event(c, "kill", {"signal": str(signum)})
                return
        if not c.state.running:
            raise errdefs.Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        # as dockerd: a user's kill, like a stop, ends the restart policy's say until the
        # next start (and the daemon's next start-up)
        c.has_been_manually_stopped = True
        await asyncio.to_thread(self._ctx.store.checkpoint, c)
        await self.signal(c, signum)
        if signum == signal_mod.SIGKILL:
            await self._wait_killed(c)

    async def _wait_killed(self, c: Container) -> None:
        """As dockerd's Kill: a SIGKILL returns once the exit is recorded (so a
        ``kill`` then ``rm`` works), after 10 s the process is killed directly."""
        if await self._runner.wait_stopped(c, _KILL_WAIT):
            return
        log.warning(
            "Container %s failed to exit within %d seconds of kill - trying direct SIGKILL",
            c.short_id,
            _KILL_WAIT,
        )
        if c.state.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(c.state.pid, signal_mod.SIGKILL)
        if not await self._runner.wait_stopped(c, 2.0):
            raise errdefs.System("tried to kill container, but did not receive an exit event")

    async def signal(self, c: Container, signum: int) -> None:
        self._ctx.log_event(c, "kill", {"signal": str(signum)})
        try:
            await self._ctx.supervisor.signal(c.id, signum)
        except (errdefs.Conflict, errdefs.NotFound):
            return  # the process has gone (its exit is being recorded)
        if c.state.paused and signum == signal_mod.SIGKILL:
            with contextlib.suppress(errdefs.BerthdError):
                await self._ctx.supervisor.resume(c.id)

    async def stop(self, ref: str, t: int | None = None, sig: str = "") -> None:
        c = self._ctx.get(ref)
        if not c.state.running and not self._runner.restart_pending(c.id):
            # (a policy restart that is starting the container counts as running)
            raise errdefs.NotModified("Container already stopped")
        c.has_been_manually_stopped = True
        cancelled = await self._runner.cancel_restart(c)
        # a policy restart that was already starting has reset the flag
        c.has_been_manually_stopped = True
        if cancelled:
            await asyncio.to_thread(self._ctx.store.checkpoint, c)
            self._ctx.log_event(c, "stop")
            return
        await self.stop_container(c, sig, t)

    async def stop_container(self, c: Container, sig: str, t: int | None) -> None:
        await asyncio.to_thread(self._ctx.store.checkpoint, c)
        signum, timeout = stop_signal_and_timeout(c, sig, t)
        if c.state.running:
            await self.signal(c, signum)
            if c.state.paused and signum != signal_mod.SIGKILL:
                with contextlib.suppress(errdefs.BerthdError):
                    await self._ctx.supervisor.resume(c.id)
            if not await self._runner.wait_stopped(c, None if timeout < 0 else timeout):
                log.info(
                    "Container %s failed to exit within %d seconds of signal %d - using the force",
                    c.short_id,
                    timeout,
                    signum,
                )
                await self.signal(c, signal_mod.SIGKILL)
                await self._runner.wait_stopped(c, None)
        self._ctx.log_event(c, "stop")

    async def restart(self, ref: str, t: int | None = None, sig: str = "") -> None:
        c = self._ctx.get(ref)
        await self._runner.cancel_restart(c)
        if c.state.running:
            # as dockerd: the stop is the user's, so the policy does not restart the
            # container behind this call's back (the start below clears the flag)
            c.has_been_manually_stopped = True
            await self.stop_container(c, sig, t)
        async with c.lock:
            if not c.state.running:
                self._runner.reset_restart_policy(c)
                await self._runner.start_locked(c)
        self._ctx.log_event(c, "restart")
