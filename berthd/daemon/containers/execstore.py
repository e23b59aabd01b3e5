"""The exec instances a client can inspect, and when they are forgotten.

moby keeps an exec twice: in its container's list while it may still run
(created, or running) and in the daemon's store, where ``GET /exec/{id}/json``
finds it. The rules (moby daemon/exec.go, monitor.go, start.go's Cleanup):

- an exec that ends (or fails to start) leaves its container's list at once,
  so the container's ``ExecIDs`` no longer name it, and stays inspectable;
- when the container stops, the execs still in its list (never started, or
  running when it stopped) are forgotten outright;
- a container's removal makes its execs unknown ("No such exec instance");
- every five minutes a pass marks the records no container lists
  (``CanRemove``: true) and deletes those an earlier pass marked: an ended exec
  is inspectable for five to ten minutes.
"""

from __future__ import annotations

import asyncio
import logging

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.exec import ExecRecord
from berthd.lib.tasks import cancel_and_wait

__all__ = ["GC_INTERVAL", "ExecStore"]

log = logging.getLogger("berthd.containers")

GC_INTERVAL = 300.0  # seconds: moby's execCommandGC ticker (5 minutes)


class ExecStore:
    def __init__(self, gc_interval: float = GC_INTERVAL) -> None:
        self._records: dict[str, ExecRecord] = {}
        self._gc_interval = gc_interval
        self._gc_task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._records)

    def add(self, rec: ExecRecord) -> None:
        """Register a new exec with its container (the collector runs from the first)."""
        self._records[rec.id] = rec
        rec.container.exec_ids.add(rec.id)
        if self._gc_task is None:
            self._gc_task = asyncio.get_running_loop().create_task(
                self._collect_forever(), name="exec-gc"
            )

    def get(self, exec_id: str) -> ExecRecord:
        rec = self._records.get(exec_id)
        if rec is None:
            raise errdefs.NotFound(f"No such exec instance: {exec_id}")
        return rec

    def ended(self, rec: ExecRecord) -> None:
        """The exec exited or could not start: its container lists it no more."""
        rec.container.exec_ids.discard(rec.id)

    def container_stopped(self, c: Container) -> None:
        """The execs c still lists (not started, or running when it stopped) go."""
        for exec_id in c.exec_ids:
            self._records.pop(exec_id, None)
        c.exec_ids.clear()

    def container_removed(self, c: Container) -> None:
        """Every exec of a removed container is unknown from now on."""
        self.container_stopped(c)
        for exec_id, rec in list(self._records.items()):
            if rec.container is c:
                del self._records[exec_id]

    def collect(self) -> int:
        """One pass of moby's execCommandGC; returns how many records it deleted."""
        cleaned = 0
        for exec_id, rec in list(self._records.items()):
            if rec.can_remove:
                del self._records[exec_id]
                cleaned += 1
            elif exec_id not in rec.container.exec_ids:
                rec.can_remove = True
        return cleaned

    async def _collect_forever(self) -> None:
        while True:
            await asyncio.sleep(self._gc_interval)
            cleaned = self.collect()
            if cleaned:
                log.debug("clean %d unused exec commands", cleaned)

    async def close(self) -> None:
        """At shutdown: stop the collector and await it."""
        task, self._gc_task = self._gc_task, None
        await cancel_and_wait(task)
