"""Shared transfers with watchers: moby's ``distribution/xfer`` transfer manager.

A transfer is one asyncio task keyed by a string; every pull or push that needs the
same key *watches* the running transfer instead of starting another. Progress fans out
to all watchers (a new watcher first gets the latest message, so a second client sees
the current state). When the last watcher leaves, the transfer is forgotten and, if it
is still running, cancelled; what it produced is released by its ``on_release``.

A :class:`Limiter` bounds how many transfers move bytes at once, daemon-wide; its limit
is read at each acquire so a reloaded config applies to the next transfer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from berthd.distribution.errors import DoNotRetry, retry_on_error
from berthd.distribution.progress import Output, Progress

__all__ = ["Limiter", "Transfer", "TransferManager", "Watcher", "retrying"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Limiter:
    """A semaphore whose size is read from a callable (reloadable config)."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_acquire(self) -> bool:
        if self._active < max(1, self._limit()) and not self._waiters:
            self._active += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # granted just as we were cancelled: pass it on
            else:
                self._waiters.remove(fut)
            raise

    def release(self) -> None:
        self._active -= 1
        while self._waiters and self._active < max(1, self._limit()):
            fut = self._waiters.popleft()
            if not fut.done():
                self._active += 1
                fut.set_result(None)


class Watcher:
    __slots__ = ("output",)

    def __init__(self, output: Output) -> None:
        self.output = output


class Transfer(Generic[T]):
    """One running transfer; ``result()`` waits for it without owning it."""

    def __init__(self, key: str, forget: Callable[[Transfer[T]], None]) -> None:
        self.key = key
        self._forget = forget
        self._watchers: list[Watcher] = []
        self._last: Progress | None = None
        self.task: asyncio.Task[T] | None = None
        self.on_release: Callable[[T], Awaitable[None]] | None = None
        self.released = False
        self._disposal: asyncio.Future[None] | None = None

    # --- progress -------------------------------------------------------------------
    def progress(self, p: Progress) -> None:
        self._last = p
        for w in list(self._watchers):
            try:
                w.output(p)
            except Exception:  # a watcher's output must not break the transfer
                log.exception("progress watcher failed")

    def watch(self, output: Output) -> Watcher:
        w = Watcher(output)
        self._watchers.append(w)
        if self._last is not None:
            output(self._last)
        return w

    # --- lifetime ---------------------------------------------------------------------
    def start(self, run: Callable[[Transfer[T]], Awaitable[T]]) -> None:
        self.task = asyncio.ensure_future(run(self))
        self.task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[T]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved: watchers read it through result()
        if self.released:
            self._dispose()

    def release(self, watcher: Watcher) -> None:
        try:
            self._watchers.remove(watcher)
        except ValueError:
            return
        if self._watchers or self.released:
            return
        self.released = True
        self._forget(self)
        if self.task is not None and not self.task.done():
            self.task.cancel()
        else:
            self._dispose()

    def _dispose(self) -> None:
        task = self.task
        if task is None or task.cancelled() or task.exception() is not None:
            return
        if self.on_release is not None:
            self._disposal = asyncio.ensure_future(self.on_release(task.result()))
            self._disposal.add_done_callback(_log_failure)

    async def settled(self) -> None:
        """Wait until a released transfer has stopped and dropped what it made."""
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)
        if self._disposal is not None:
            await asyncio.gather(self._disposal, return_exceptions=True)

    async def result(self) -> T:
        assert self.task is not None
        return await asyncio.shield(self.task)

    def done(self) -> bool:
        return self.task is not None and self.task.done()


def _log_failure(fut: asyncio.Future[None]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.error("releasing a transfer failed: %s", fut.exception())


class TransferManager(Generic[T]):
    def __init__(self) -> None:
        self._transfers: dict[str, Transfer[T]] = {}

    def transfer(
        self, key: str, run: Callable[[Transfer[T]], Awaitable[T]], output: Output
    ) -> tuple[Transfer[T], Watcher]:
        """Watch the transfer running for ``key``, or start ``run`` as it."""
        xfer = self._transfers.get(key)
        if xfer is None:
            xfer = Transfer(key, self._drop)
            self._transfers[key] = xfer
            watcher = xfer.watch(output)
            xfer.start(run)
            return xfer, watcher
        return xfer, xfer.watch(output)

    def _drop(self, xfer: Transfer[T]) -> None:
        if self._transfers.get(xfer.key) is xfer:
            del self._transfers[xfer.key]

    def __len__(self) -> int:
        return len(self._transfers)


async def retrying(
    attempt_fn: Callable[[], Awaitable[T]],
    max_attempts: int,
    id_: str,
    emit: Output,
    tick: float,
    what: str,
) -> T:
    """moby's retry loop around one download or upload.

    After failure k it counts ``Retrying in 5k seconds`` down once per ``tick``; an error
    wrapped in DoNotRetry, or the last attempt's, is raised.
    """
    attempt = 1
    while True:
        try:
            return await attempt_fn()
        except asyncio.CancelledError:
            raise
        except Exception as raw:
            err = retry_on_error(raw)
            if isinstance(err, DoNotRetry) or attempt >= max(1, max_attempts):
                log.error("%s failed after %d attempts: %s", what, attempt, err)
                raise err from None
            log.info("%s failed, retrying (%d/%d): %s", what, attempt, max_attempts, err)
        delay = attempt * 5
        attempt += 1
        while delay > 0:
            plural = "s" if delay != 1 else ""
            emit(Progress(id_, f"Retrying in {delay} second{plural}"))
            await asyncio.sleep(tick)
            delay -= 1
