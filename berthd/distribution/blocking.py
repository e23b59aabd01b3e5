"""Blocking work from async code that survives cancellation cleanly.

A thread cannot be interrupted: when the awaiting task is cancelled, the work is told
to stop (``stop`` is set; readers built on it raise) and awaited to its end, and what
it produced anyway is undone, so a killed pull leaves nothing registered.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

__all__ = ["Cancelled", "run_long", "run_undoable"]

T = TypeVar("T")

# Layer registrations and on-the-fly gzip hold a thread for the whole transfer: they get
# a pool of their own, so a big pull or push never starves the default executor that
# every other request's short blocking calls use.
_MAX_LONG = 16
_pool: ThreadPoolExecutor | None = None


def _long_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(_MAX_LONG, thread_name_prefix="berthd-transfer")
    return _pool


async def run_long(fn: Callable[[], T]) -> T:
    """Run ``fn`` in the transfer pool."""
    return await asyncio.get_running_loop().run_in_executor(_long_pool(), fn)


class Cancelled(Exception):
    """Raised inside worker threads whose caller went away."""


async def run_undoable(
    fn: Callable[[threading.Event], T], undo: Callable[[T], Awaitable[None]]
) -> T:
    stop = threading.Event()
    fut = asyncio.ensure_future(run_long(lambda: fn(stop)))
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
