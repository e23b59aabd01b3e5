"""Byte-count progress as moby's ``progress.Reader`` paces it.

An update goes out every min(512 KiB, 1 % of the size) bytes, at most ten a second,
plus a final one; callers may be on the event loop or in a worker thread (``emit`` is
whatever gets the message to the loop).
"""

from __future__ import annotations

import time

from berthd.distribution.progress import Output, Progress

__all__ = ["Meter"]

_STEP = 512 * 1024
_MIN_INTERVAL = 0.1


class Meter:
    def __init__(self, emit: Output, id_: str, action: str, total: int) -> None:
        self._emit = emit
        self._id = id_
        self._action = action
        self.total = total
        self.current = 0
        self._last_bytes = 0
        self._last_time = 0.0
        step = min(_STEP, total // 100) if total > 0 else _STEP
        self._step = max(step, 1)

    def add(self, n: int) -> None:
        self.current += n
        if self.current - self._last_bytes < self._step and n:
            return
        now = time.monotonic()
        if now - self._last_time < _MIN_INTERVAL and n and self.current != self.total:
            return
        self._send(now)

    def finish(self) -> None:
        if self.current != self._last_bytes or self.current == 0:
            self._send(time.monotonic())

    def _send(self, now: float) -> None:
        self._last_bytes, self._last_time = self.current, now
        self._emit(Progress(self._id, self._action, self.current, self.total, counts=True))
