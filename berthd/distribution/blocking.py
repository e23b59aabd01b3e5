"""Blocking work from async code that survives cancellation cleanly.

A thread cannot be interrupted: when the awaiting task is cancelled, the work is told
to stop (``stop`` is set; readers built on it raise) and awaited to its end, and what
it produced anyway is undone, so a killed pull leaves nothing registered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["Cancelled", "run_undoable"]

T = TypeVar("T")


class Cancelled(Exception):
    """Raised inside worker threads whose caller went away."""


async def run_undoable(
    fn: Callable[[threading.Event], T], undo: Callable[[T], Awaitable[None]]
) -> T:
    stop = threading.Event()
    fut = asyncio.ensure_future(asyncio.to_thread(fn, stop))
    try:
        return await asyncio.shield(fut)
    except asyncio.CancelledError:
        stop.set()
        try:
            value = await fut
        except BaseException:
            raise asyncio.CancelledError from None
        await undo(value)
        raise
