"""``docker pause``/``unpause`` (moby daemon/pause.go, unpause.go) and the tty
resize of a running container (resize.go)."""

from __future__ import annotations

import asyncio

from berthd import errdefs
from berthd.daemon.containers.context import ContainerContext

__all__ = ["pause", "resize", "unpause"]


async def pause(ctx: ContainerContext, ref: str) -> None:
    c = ctx.get(ref)
    async with c.lock:
        if not c.state.running:
            raise errdefs.Conflict(f"Container {c.id} is not running")
        if c.state.paused:
            raise errdefs.Conflict(f"Container {c.id} is already paused")
        await ctx.supervisor.pause(c.id)
        c.state.paused = True
        await asyncio.to_thread(ctx.store.checkpoint, c)
    ctx.log_event(c, "pause")


async def unpause(ctx: ContainerContext, ref: str) -> None:
    c = ctx.get(ref)
    async with c.lock:
        if not c.state.paused:
            raise errdefs.Conflict(f"Container {c.id} is not paused")
        await ctx.supervisor.resume(c.id)
        c.state.paused = False
        await asyncio.to_thread(ctx.store.checkpoint, c)
    ctx.log_event(c, "unpause")


def resize(ctx: ContainerContext, ref: str, height: int, width: int) -> None:
    c = ctx.get(ref)
    if not c.state.running:
        raise errdefs.Conflict(f"Container {c.id} is not running")
    ctx.supervisor.resize(c.id, height, width)
    ctx.log_event(c, "resize", {"height": str(height), "width": str(width)})
