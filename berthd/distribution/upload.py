"""Layer uploads: moby's ``LayerUploadManager`` (daemon-wide, max-concurrent-uploads).

A transfer is keyed ``v2push:<repository> <diff ID>``, so two pushes of one layer to one
repository upload it once. Each layer prints ``Preparing`` up front, ``Waiting`` while
no slot is free, then whatever its descriptor does (``Pushing`` … ``Pushed``, ``Layer
already exists``, ``Mounted from …``); failures are retried as downloads are.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from berthd.distribution.manifest import Descriptor
from berthd.distribution.progress import Output, Progress
from berthd.distribution.xfer import Limiter, Transfer, TransferManager, Watcher, retrying

__all__ = ["LayerUploadManager", "UploadDescriptor"]


class UploadDescriptor(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def id(self) -> str: ...
    async def upload(self, out: Output) -> Descriptor: ...


class LayerUploadManager:
    def __init__(
        self, max_concurrent: Callable[[], int], max_attempts: int = 5, retry_tick: float = 1.0
    ) -> None:
        self.limiter = Limiter(max_concurrent)
        self.max_attempts = max_attempts
        self.retry_tick = retry_tick
        self.transfers: TransferManager[Descriptor] = TransferManager()

    async def upload(self, layers: Sequence[UploadDescriptor], out: Output) -> list[Descriptor]:
        """Upload every layer (top first, as given); return their remote descriptors."""
        watched: list[tuple[Transfer[Descriptor], Watcher]] = []
        by_key: dict[str, Transfer[Descriptor]] = {}
        try:
            for d in layers:
                out(Progress(d.id, "Preparing"))
                if d.key in by_key:
                    continue
                xfer, watcher = self.transfers.transfer(d.key, self._func(d), out)
                watched.append((xfer, watcher))
                by_key[d.key] = xfer
            results = {key: await xfer.result() for key, xfer in by_key.items()}
            return [results[d.key] for d in layers]
        finally:
            for xfer, watcher in watched:
                xfer.release(watcher)
            await asyncio.gather(*(xfer.settled() for xfer, _ in watched if xfer.released))

    def _func(self, d: UploadDescriptor) -> Callable[[Transfer[Descriptor]], Awaitable[Descriptor]]:
        async def run(xfer: Transfer[Descriptor]) -> Descriptor:
            if not self.limiter.try_acquire():
                xfer.progress(Progress(d.id, "Waiting"))
                await self.limiter.acquire()
            try:
                return await retrying(
                    lambda: d.upload(xfer.progress),
                    self.max_attempts,
                    d.id,
                    xfer.progress,
                    self.retry_tick,
                    "Upload",
                )
            finally:
                self.limiter.release()

        return run
