"""Start-up (restore) and shutdown of every container."""

from __future__ import annotations

import asyncio
import contextlib
import signal as signal_mod

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.context import (
    ContainerContext,
    log,
    stop_signal_and_timeout,
    utcnow,
)
from berthd.daemon.containers.delete import ContainerRemover
from berthd.daemon.containers.links import parse_link
from berthd.daemon.containers.mounting import VolumeMounts
from berthd.daemon.containers.restart_policy import should_restart
from berthd.daemon.containers.run import ContainerRunner
from berthd.daemon.containers.sessions import ContainerSessions
from berthd.daemon.containers.stop import ContainerStopper
from berthd.runtime.monitor import ExitStatus
from berthd.volume import subpath

__all__ = ["ContainerRestorer"]


class ContainerRestorer:
    """moby's daemon.restore and Shutdown: every container at start-up and at the end."""

    def __init__(
        self,
        ctx: ContainerContext,
        mounts: VolumeMounts,
        runner: ContainerRunner,
        stopper: ContainerStopper,
        remover: ContainerRemover,
        sessions: ContainerSessions,
    ) -> None:
        self._ctx = ctx
        self._mounts = mounts
        self._runner = runner
        self._stopper = stopper
        self._remover = remover
        self._sessions = sessions

    # -- start-up and shutdown ---------------------------------------------------------------
    async def load(self, live_restore: bool = True) -> None:
        """Load every container from disk (restore's first half).

        A container found running is kept under live-restore; without it, it is
        shut down (stop signal, then SIGKILL after its stop timeout) and the
        restart policies decide in ``restart_by_policy``, as dockerd does. A
        runtime left behind by a container that is not running (a daemon killed
        in the middle of a start) or that no longer exists is killed.
        """
        result = await asyncio.to_thread(self._ctx.store.load_all)
        # subpath binds of starts a crash interrupted: no runtime will take them now
        await asyncio.to_thread(subpath.sweep_all, self._ctx.paths.safepath_dir())
        recorded = set(await asyncio.to_thread(self._ctx.supervisor.known))
        to_shut_down: list[Container] = []
        for cid in result.unfinished:
            log.warning("removing container %s whose creation did not finish", cid[:12])
            await asyncio.to_thread(self._remove_unfinished, cid)
        for c in result.containers:
            self._ctx.store.add(c)
            try:
                self._ctx.store.names.reserve(c.name, c.id)
            except errdefs.Conflict:
                log.error("container %s: name %s is taken; giving it a new one", c.short_id, c.name)
                c.name = self._ctx.store.names.reserve_generated(c.id)
            await self._mounts.reference(c)
            if c.state.removal_in_progress:
                # a removal was interrupted: dockerd marks such containers dead
                c.state.removal_in_progress = False
                c.state.dead = True
                await asyncio.to_thread(self._ctx.store.checkpoint, c)
            elif c.state.restarting:
                c.state.running = False
                c.state.restarting = False
            elif c.state.running or c.state.paused:
                if await self._restore_running(c, live_restore):
                    to_shut_down.append(c)
                continue
            if c.id in recorded:
                await self._kill_stray_runtime(c.id)
        known = {c.id for c in result.containers}
        for cid in sorted(recorded - known):
            await self._kill_stray_runtime(cid)
        await asyncio.gather(*(self._shut_down_restored(c) for c in to_shut_down))

    async def _kill_stray_runtime(self, cid: str) -> None:
        """Kill and forget a runtime the store says is not running."""
        log.warning("container %s: killing a runtime left from an interrupted start", cid[:12])
        try:
            await self._ctx.supervisor.restore(cid)
            await self._ctx.supervisor.delete(cid)
        except errdefs.BerthdError as e:
            log.warning("container %s: cannot clean up its runtime: %s", cid[:12], e)

    async def _shut_down_restored(self, c: Container) -> None:
        """Without live-restore: stop a container that outlived the previous daemon."""
        signum, timeout = stop_signal_and_timeout(c, "", None)
        status: ExitStatus | None = None
        for sig, wait in ((signum, timeout), (signal_mod.SIGKILL, None)):
            with contextlib.suppress(errdefs.BerthdError):
                await self._ctx.supervisor.signal(c.id, sig)
            if c.state.paused:
                with contextlib.suppress(errdefs.BerthdError):
                    await self._ctx.supervisor.resume(c.id)
            try:
                async with asyncio.timeout(None if wait is None or wait < 0 else wait):
                    status = await self._ctx.supervisor.wait(c.id)
                break
            except TimeoutError:
                continue
        async with c.lock:
            await self._runner.handle_exit(c, status or ExitStatus(255, False, utcnow()))

    async def restart_by_policy(self, live_restore: bool) -> None:
        """After load: remove --rm leftovers and start what the policies say (in parallel)."""
        todo = []
        for c in list(self._ctx.store):
            if c.state.running or c.state.dead:
                continue
            if c.host_config.get("AutoRemove") and c.state.started_at:
                with contextlib.suppress(errdefs.BerthdError):
                    await self._remover.remove(c.id, force=True, volumes=True)
                continue
            policy = c.host_config.get("RestartPolicy") or {}
            manual = c.has_been_manually_stopped
            if c.state.started_at and should_restart(
                policy, c.state.exit_code, manual, c.restart_count
            ):
                todo.append(c)

        # in parallel, but a container after those it links to or shares a network with
        tasks: dict[str, asyncio.Task[None]] = {}

        async def start_one(c: Container) -> None:
            deps = [tasks[d.id] for d in self._start_dependencies(c) if d.id in tasks]
            if deps:
                await asyncio.wait(deps)
            try:
                await self._runner.start(c.id)
            except errdefs.BerthdError as e:
                log.error("failed to start container %s at start-up: %s", c.short_id, e)

        for c in sorted(todo, key=lambda c: c.created):
            tasks[c.id] = asyncio.create_task(start_one(c), name=f"startup-{c.short_id}")
        try:
            if tasks:
                await asyncio.wait(list(tasks.values()))
        finally:  # start-up called off: no start outlives it
            for t in tasks.values():
                t.cancel()
            for t in tasks.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await t

    def _start_dependencies(self, c: Container) -> list[Container]:
        """Containers c needs running first: its links and ``--network/--pid/--ipc
        container:``,
        only those created before it (so that no cycle can form)."""
        refs = [parse_link(str(v))[0] for v in c.host_config.get("Links") or []]
        for key in ("NetworkMode", "PidMode", "IpcMode"):
            mode = str(c.host_config.get(key) or "")
            if mode.startswith("container:"):
                refs.append(mode.partition(":")[2])
        deps = []
        for ref in refs:
            dep = self._ctx.store.try_get(ref)
            if dep is not None and dep.created < c.created:
                deps.append(dep)
        return deps

    def _remove_unfinished(self, cid: str) -> None:
        with contextlib.suppress(errdefs.BerthdError):
            self._ctx.layers.release_rw_layer(cid)
        self._ctx.store.remove_dir(cid)

    async def _restore_running(self, c: Container, live_restore: bool) -> bool:
        """Re-attach a container that was running; True if it is to be shut down."""
        try:
            restored = await self._ctx.supervisor.restore(c.id)
        except errdefs.BerthdError as e:
            log.warning("container %s: cannot restore (%s); marking it stopped", c.short_id, e)
            c.state.set_stopped(255, False)
            await asyncio.to_thread(self._ctx.store.checkpoint, c)
            return False
        if restored.running and not live_restore:
            await asyncio.to_thread(self._ctx.layers.mount, c.id)
            return True
        if restored.running:
            await asyncio.to_thread(self._ctx.layers.mount, c.id)
            await self._mounts.live_restore(c)
            self._runner.watch(c)
            for hook in self._ctx.hooks:
                hook.started(c)
            return False
        status = restored.exit_status or ExitStatus(255, False, utcnow())
        await asyncio.to_thread(self._ctx.layers.mount, c.id)
        async with c.lock:
            await self._runner.handle_exit(c, status)
        return False

    async def shutdown(self, live_restore: bool, timeout: int) -> None:
        """Stop containers (all at once, bounded), or leave them running."""
        self._runner.shutting_down = True
        await self._runner.cancel_all_restarts()
        running = [c for c in self._ctx.store if c.state.running]
        if not live_restore and running:

            async def stop_one(c: Container) -> None:
                with contextlib.suppress(errdefs.BerthdError):
                    await self._stopper.stop_container(c, "", None)

            try:
                async with asyncio.timeout(None if timeout < 0 else timeout + 1):
                    await asyncio.gather(*(stop_one(c) for c in running))
            except TimeoutError:
                log.warning("containers did not stop within the shutdown timeout")
        self._ctx.pending_attaches.cancel_all()
        await self._runner.close()
        await self._sessions.close()
        self._ctx.waiters.release_all("the daemon is shutting down")
        await self._ctx.supervisor.close()
