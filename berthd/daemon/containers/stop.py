"""Signals, stop, restart, wait, rm and the small state verbs
(rename, pause, unpause, resize).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal as signal_mod

from berthd import errdefs
from berthd.container import Container, normalize_name, validate_name
from berthd.daemon.containers.base import (
    ServiceBase,
    log,
)
from berthd.daemon.containers.links import remove_link, rename_child
from berthd.oci import parse_signal
from berthd.oci.signals import SIGNAL_MAP

_KILL_WAIT = 10.0  # seconds dockerd waits for the exit after a SIGKILL


class StopMixin(ServiceBase):
    # -- signals, stop, restart ------------------------------------------------------------
    async def kill(self, ref: str, sig: str) -> None:
        c = self.get(ref)
        signum = parse_signal(sig) if sig else signal_mod.SIGKILL
        if signum not in SIGNAL_MAP.values():
            raise errdefs.InvalidParameter(f"the linux daemon does not support signal {signum}")
        if c.id in self._restarts:
            # a pending policy restart has no process to signal: it is what dies (one
            # already starting the container is waited for, then its process is killed)
            c.has_been_manually_stopped = True
            if await self._cancel_restart(c):
                self.log_event(c, "kill", {"signal": str(signum)})
                return
        if not c.state.running:
            raise errdefs.Conflict(f"Cannot kill container: {ref}: Container {c.id} is not running")
        # as dockerd: a user's kill, like a stop, ends the restart policy's say until the
        # next start (and the daemon's next start-up)
        c.has_been_manually_stopped = True
        await asyncio.to_thread(self.store.checkpoint, c)
        await self._signal(c, signum)
        if signum == signal_mod.SIGKILL:
            await self._wait_killed(c)

    async def _wait_killed(self, c: Container) -> None:
        """As dockerd's Kill: a SIGKILL returns once the exit is recorded (so a
        ``kill`` then ``rm`` works), after 10 s the process is killed directly."""
        if await self._wait_stopped(c, _KILL_WAIT):
            return
        log.warning(
            "Container %s failed to exit within %d seconds of kill - trying direct SIGKILL",
            c.short_id,
            _KILL_WAIT,
        )
        if c.state.pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(c.state.pid, signal_mod.SIGKILL)
        if not await self._wait_stopped(c, 2.0):
            raise errdefs.System("tried to kill container, but did not receive an exit event")

    async def _signal(self, c: Container, signum: int) -> None:
        self.log_event(c, "kill", {"signal": str(signum)})
        try:
            await self.supervisor.signal(c.id, signum)
        except (errdefs.Conflict, errdefs.NotFound):
            return  # the process has gone (its exit is being recorded)
        if c.state.paused and signum == signal_mod.SIGKILL:
            with contextlib.suppress(errdefs.BerthdError):
                await self.supervisor.resume(c.id)

    async def _wait_stopped(self, c: Container, timeout: float | None) -> bool:
        ev = self._stopped.get(c.id)
        if ev is None:
            return True
        try:
            async with asyncio.timeout(timeout):
                await ev.wait()
        except TimeoutError:
            return False
        return True

    async def stop(self, ref: str, t: int | None = None, sig: str = "") -> None:
        c = self.get(ref)
        if not c.state.running and c.id not in self._restarts:
            # (a policy restart that is starting the container counts as running)
            raise errdefs.NotModified("Container already stopped")
        c.has_been_manually_stopped = True
        cancelled = await self._cancel_restart(c)
        # a policy restart that was already starting has reset the flag
        c.has_been_manually_stopped = True
        if cancelled:
            await asyncio.to_thread(self.store.checkpoint, c)
            self.log_event(c, "stop")
            return
        await self._stop_container(c, sig, t)

    async def _stop_container(self, c: Container, sig: str, t: int | None) -> None:
        await asyncio.to_thread(self.store.checkpoint, c)
        signum, timeout = self._stop_signal_and_timeout(c, sig, t)
        if c.state.running:
            await self._signal(c, signum)
            if c.state.paused and signum != signal_mod.SIGKILL:
                with contextlib.suppress(errdefs.BerthdError):
                    await self.supervisor.resume(c.id)
            if not await self._wait_stopped(c, None if timeout < 0 else timeout):
                log.info(
                    "Container %s failed to exit within %d seconds of signal %d - using the force",
                    c.short_id,
                    timeout,
                    signum,
                )
                await self._signal(c, signal_mod.SIGKILL)
                await self._wait_stopped(c, None)
        self.log_event(c, "stop")

    async def restart(self, ref: str, t: int | None = None, sig: str = "") -> None:
        c = self.get(ref)
        await self._cancel_restart(c)
        if c.state.running:
            # as dockerd: the stop is the user's, so the policy does not restart the
            # container behind this call's back (the start below clears the flag)
            c.has_been_manually_stopped = True
            await self._stop_container(c, sig, t)
        async with c.lock:
            if not c.state.running:
                self._reset_restart_policy(c)
                await self._start_locked(c)
        self.log_event(c, "restart")

    # -- wait -------------------------------------------------------------------------------
    def wait_future(self, ref: str, condition: str) -> asyncio.Future[tuple[int, str]]:
        """The future a ``POST /wait`` resolves with, taken before it answers 200."""
        c = self.get(ref)
        if condition in ("", "not-running"):
            if not c.state.running:
                fut: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
                fut.set_result((c.state.exit_code, c.state.error))
                return fut
            return self.waiters.on_exit(c.id)
        if condition == "next-exit":
            return self.waiters.on_exit(c.id)
        if condition == "removed":
            return self.waiters.on_removed(c.id)
        raise errdefs.InvalidParameter(f"invalid condition: {condition!r}")

    # -- remove -------------------------------------------------------------------------------
    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        c = self.get(ref)
        if c.state.running and not force:
            if c.state.paused:
                raise errdefs.Conflict(
                    f'cannot remove container "{c.name}": container is paused and must be '
                    "unpaused first"
                )
            raise errdefs.Conflict(
                f'cannot remove container "{c.name}": container is running: stop the '
                "container before removing or force remove"
            )
        if c.state.removal_in_progress:
            raise errdefs.Conflict(f"removal of container {c.id} is already in progress")
        # from now on no start (a `docker restart` or a policy restart in flight) may
        # run it again: it would be removed from under its process
        c.state.removal_in_progress = True
        try:
            await self._cancel_restart(c)
            while True:
                if c.state.running:
                    await self._signal(c, signal_mod.SIGKILL)
                    await self._wait_stopped(c, None)
                async with c.lock:
                    if c.state.running:
                        continue  # a start that was under way has finished: kill again
                    if self.store.try_get(c.id) is None:
                        return
                    await asyncio.to_thread(self.store.checkpoint, c)
                    try:
                        await asyncio.to_thread(self._remove_on_disk, c)
                    except errdefs.BerthdError as e:
                        c.state.dead = True
                        c.state.error = str(e)
                        raise errdefs.System(
                            f"unable to remove filesystem for {c.id}: {e}"
                        ) from None
                    self.store.delete(c)
                    break
        except BaseException:
            if self.store.try_get(c.id) is not None:
                c.state.removal_in_progress = False
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.store.checkpoint, c)
            raise
        await self._release_volumes(c, volumes)
        with contextlib.suppress(Exception):
            await self.network.release(c)
        self.log_event(c, "destroy")
        self.waiters.removed(c.id, c.state.exit_code)

    # -- small verbs ----------------------------------------------------------------------------
    async def rename(self, ref: str, new_name: str) -> None:
        if not ref or not new_name:
            raise errdefs.InvalidParameter("Neither old nor new names may be empty")
        c = self.get(ref)
        new = normalize_name(new_name)
        if new == c.name:
            raise errdefs.InvalidParameter(
                "Renaming a container with the same name as its current name"
            )
        async with c.lock:
            old = c.name
            try:
                self.store.names.reserve(validate_name(new), c.id)
            except (errdefs.InvalidParameter, errdefs.Conflict) as e:
                raise type(e)(f"Error when allocating new name: {e}") from None
            c.name = new
            try:
                await asyncio.to_thread(self.store.checkpoint, c)
            except BaseException:
                c.name = old
                self.store.names.release(new)
                raise
            self.store.names.release(old)
        for parent in rename_child(self.store, old, new):
            await asyncio.to_thread(self.store.checkpoint, parent)
        self.log_event(c, "rename", {"oldName": old})

    async def remove_link(self, name: str) -> None:
        """``docker rm --link /parent/alias``: the parent forgets that link."""
        name = "/" + name.lstrip("/")
        parent_name, _, alias = name.rpartition("/")
        if not parent_name:
            raise errdefs.Conflict("Conflict, cannot remove the default link name of the container")
        parent = self.store.try_get(parent_name)
        if parent is None:
            raise errdefs.NotFound(f"Cannot get parent {parent_name} for link name {name}")
        async with parent.lock:
            if remove_link(parent, alias):
                await asyncio.to_thread(self.store.checkpoint, parent)

    async def pause(self, ref: str) -> None:
        c = self.get(ref)
        async with c.lock:
            if not c.state.running:
                raise errdefs.Conflict(f"Container {c.id} is not running")
            if c.state.paused:
                raise errdefs.Conflict(f"Container {c.id} is already paused")
            await self.supervisor.pause(c.id)
            c.state.paused = True
            await asyncio.to_thread(self.store.checkpoint, c)
        self.log_event(c, "pause")

    async def unpause(self, ref: str) -> None:
        c = self.get(ref)
        async with c.lock:
            if not c.state.paused:
                raise errdefs.Conflict(f"Container {c.id} is not paused")
            await self.supervisor.resume(c.id)
            c.state.paused = False
            await asyncio.to_thread(self.store.checkpoint, c)
        self.log_event(c, "unpause")

    def resize(self, ref: str, height: int, width: int) -> None:
        c = self.get(ref)
        if not c.state.running:
            raise errdefs.Conflict(f"Container {c.id} is not running")
        self.supervisor.resize(c.id, height, width)
        self.log_event(c, "resize", {"height": str(height), "width": str(width)})
