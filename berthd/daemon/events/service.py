"""EventsService: publish daemon events, replay recent ones, stream live ones.

A bounded history (dockerd keeps the last 256) lets ``docker events --since``
see what happened before it connected. Each subscriber gets its own bounded
queue; a subscriber that stops reading loses events instead of holding the
daemon back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from berthd.daemon.events.filter import event_matches
from berthd.lib.filters import FilterArgs

__all__ = ["HISTORY_LIMIT", "EventsService", "Subscription"]

log = logging.getLogger("berthd.events")

HISTORY_LIMIT = 256
QUEUE_LIMIT = 1024
# Event types that also carry the pre-1.22 fields status/id/from.
_LEGACY_TYPES = ("container", "image")


class Subscription:
    """One ``GET /events`` client: past events, then live ones."""

    def __init__(
        self,
        service: EventsService,
        past: list[dict[str, Any]],
        until_ns: int | None,
        filters: FilterArgs,
        clock: Callable[[], int],
    ) -> None:
        self._service = service
        self._past = past
        self._until_ns = until_ns
        self._filters = filters
        self._clock = clock
        self._queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE_LIMIT)
        self._closed = False
        # dockerd: an ``until`` in the past means "only past events".
        if until_ns is not None and until_ns <= clock():
            self._closed = True

    def past(self) -> list[dict[str, Any]]:
        return self._past

    @property
    def finished(self) -> bool:
        if self._closed:
            return True
        return self._until_ns is not None and self._clock() >= self._until_ns

    def deliver(self, ev: dict[str, Any]) -> None:
        if self._closed or not event_matches(self._filters, ev):
            return
        if self._until_ns is not None and ev["timeNano"] > self._until_ns:
            return
        try:
            self._queue.put_nowait(ev)
        except asyncio.QueueFull:
            log.warning("dropping event for a slow events subscriber")

    async def next(self, timeout: float) -> dict[str, Any] | None:
        if self.finished:
            return None
        if self._until_ns is not None:
            left = (self._until_ns - self._clock()) / 1e9
            timeout = max(0.0, min(timeout, left))
        try:
            ev = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if ev is None:
            self._closed = True
        return ev

    def end(self) -> None:
        """The daemon is shutting down: wake the reader and finish."""
        if not self._closed:
            try:
                self._queue.put_nowait(None)
            except asyncio.QueueFull:
                pass
            self._closed = True

    def close(self) -> None:
        self._closed = True
        self._service._unsubscribe(self)


class EventsService:
    def __init__(self, clock: Callable[[], int] = time.time_ns) -> None:
        self._clock = clock
        self._history: deque[dict[str, Any]] = deque(maxlen=HISTORY_LIMIT)
        self._subscribers: set[Subscription] = set()

    @property
    def listener_count(self) -> int:
        return len(self._subscribers)

    def log(
        self,
        type_: str,
        action: str,
        actor_id: str,
        attributes: Mapping[str, str] | None = None,
        scope: str = "local",
    ) -> dict[str, Any]:
        """Record and broadcast one event; returns the message as sent. Swarm objects'
        events (node, service, secret, config) have the scope ``swarm``."""
        now = self._clock()
        attrs = dict(attributes or {})
        ev: dict[str, Any] = {}
        if type_ in _LEGACY_TYPES:
            ev["status"] = action
            ev["id"] = actor_id
            if type_ == "container" and "image" in attrs:
                ev["from"] = attrs["image"]
        ev.update(
            {
                "Type": type_,
                "Action": action,
                "Actor": {"ID": actor_id, "Attributes": attrs},
                "scope": scope,
                "time": now // 1_000_000_000,
                "timeNano": now,
            }
        )
        self._history.append(ev)
        for sub in list(self._subscribers):
            sub.deliver(ev)
        return ev

    def subscribe(
        self, since: float | None, until: float | None, filters: FilterArgs
    ) -> Subscription:
        since_ns = int(since * 1e9) if since is not None else None
        until_ns = int(until * 1e9) if until is not None else None
        past: list[dict[str, Any]] = []
        if since_ns is not None or until_ns is not None:
            upper = until_ns if until_ns is not None else self._clock()
            lower = since_ns if since_ns is not None else 0
            past = [
                ev
                for ev in self._history
                if lower <= ev["timeNano"] <= upper and event_matches(filters, ev)
            ]
        sub = Subscription(self, past, until_ns, filters, self._clock)
        if not sub.finished:
            self._subscribers.add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    def close(self) -> None:
        """End every live subscription (daemon shutdown)."""
        for sub in list(self._subscribers):
            sub.end()
        self._subscribers.clear()
