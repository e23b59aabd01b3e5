"""``docker rename`` (moby daemon/rename.go): the name, and the links that name it."""

from __future__ import annotations

import asyncio

from berthd import errdefs
from berthd.container import normalize_name, validate_name
from berthd.daemon.containers.context import ContainerContext
from berthd.daemon.containers.links import rename_child

__all__ = ["rename"]


async def rename(ctx: ContainerContext, ref: str, new_name: str) -> None:
    if not ref or not new_name:
        raise errdefs.InvalidParameter("Neither old nor new names may be empty")
    c = ctx.get(ref)
    new = normalize_name(new_name)
    if new == c.name:
        raise errdefs.InvalidParameter(
            "Renaming a container with the same name as its current name"
        )
    async with c.lock:
        old = c.name
        try:
            ctx.store.names.reserve(validate_name(new), c.id)
        except (errdefs.InvalidParameter, errdefs.Conflict) as e:
            raise type(e)(f"Error when allocating new name: {e}") from None
        c.name = new
        try:
            await asyncio.to_thread(ctx.store.checkpoint, c)
        except BaseException:
            c.name = old
            ctx.store.names.release(new)
            raise
        ctx.store.names.release(old)
    for parent in rename_child(ctx.store, old, new):
        await asyncio.to_thread(ctx.store.checkpoint, parent)
    ctx.log_event(c, "rename", {"oldName": old})
