"""``docker rm`` and ``docker rm --link`` (moby daemon/delete.go)."""

from __future__ import annotations

import asyncio
import contextlib
import signal as signal_mod

from berthd import errdefs
from berthd.daemon.containers.context import ContainerContext
from berthd.daemon.containers.execstore import ExecStore
from berthd.daemon.containers.links import remove_link
from berthd.daemon.containers.mounting import VolumeMounts
from berthd.daemon.containers.run import ContainerRunner
from berthd.daemon.containers.stop import ContainerStopper

__all__ = ["ContainerRemover"]


class ContainerRemover:
    """Removes containers: kills what runs, then the record, the disk, the volumes'
    references, the network's endpoints and the execs (no state of its own)."""

    def __init__(
        self,
        ctx: ContainerContext,
        runner: ContainerRunner,
        stopper: ContainerStopper,
        mounts: VolumeMounts,
        execs: ExecStore,
    ) -> None:
        self._ctx = ctx
        self._runner = runner
        self._stopper = stopper
        self._mounts = mounts
        self._execs = execs

    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        ctx = self._ctx
        c = ctx.get(ref)
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
            await self._runner.cancel_restart(c)
            while True:
                if c.state.running:
                    await self._stopper.signal(c, signal_mod.SIGKILL)
                    await self._runner.wait_stopped(c, None)
                async with c.lock:
                    if c.state.running:
                        continue  # a start that was under way has finished: kill again
                    if ctx.store.try_get(c.id) is None:
                        return
                    try:
                        # one trip to a thread: the mark (RemovalInProgress on disk,
                        # so a crash from here on leaves it Dead), then the removal
                        await asyncio.to_thread(ctx.checkpoint_and_remove_on_disk, c)
                    except errdefs.BerthdError as e:
                        c.state.dead = True
                        c.state.error = str(e)
                        raise errdefs.System(
                            f"unable to remove filesystem for {c.id}: {e}"
                        ) from None
                    ctx.store.delete(c)
                    break
        except BaseException:
            if ctx.store.try_get(c.id) is not None:
                c.state.removal_in_progress = False
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(ctx.store.checkpoint, c)
            raise
        await self._mounts.release(c, volumes)
        with contextlib.suppress(Exception):
            await ctx.network.release(c)
        self._execs.container_removed(c)
        ctx.log_event(c, "destroy")
        ctx.waiters.removed(c.id, c.state.exit_code)

    async def remove_link(self, name: str) -> None:
        """``docker rm --link /parent/alias``: the parent forgets that link."""
        name = "/" + name.lstrip("/")
        parent_name, _, alias = name.rpartition("/")
        if not parent_name:
            raise errdefs.Conflict("Conflict, cannot remove the default link name of the container")
        parent = self._ctx.store.try_get(parent_name)
        if parent is None:
            raise errdefs.NotFound(f"Cannot get parent {parent_name} for link name {name}")
        async with parent.lock:
            if remove_link(parent, alias):
                await asyncio.to_thread(self._ctx.store.checkpoint, parent)
