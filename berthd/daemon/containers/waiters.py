"""Who waits for what: ``docker wait`` conditions and internal stop waits.

``not-running`` returns at once when the container is not running;
``next-exit`` waits for the next exit even if it is stopped now; ``removed``
waits until the container is gone. Each waiter is a future resolved with
(exit code, error message).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from berthd import errdefs
from berthd.container import Container

__all__ = ["Waiters", "wait_future"]

Result = tuple[int, str]


class Waiters:
    def __init__(self) -> None:
        self._exit: dict[str, list[asyncio.Future[Result]]] = defaultdict(list)
        self._removed: dict[str, list[asyncio.Future[Result]]] = defaultdict(list)

    def on_exit(self, cid: str) -> asyncio.Future[Result]:
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._exit[cid].append(fut)
        return fut

    def on_removed(self, cid: str) -> asyncio.Future[Result]:
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._removed[cid].append(fut)
        return fut

    def exited(self, cid: str, code: int, error: str = "") -> None:
        for fut in self._exit.pop(cid, []):
            if not fut.done():
                fut.set_result((code, error))

    def release_all(self, error: str) -> None:
        """Daemon shutdown: answer every waiter so no request hangs."""
        for table in (self._exit, self._removed):
            for futs in table.values():
                for fut in futs:
                    if not fut.done():
                        fut.set_result((-1, error))
            table.clear()

    def removed(self, cid: str, code: int, error: str = "") -> None:
        self.exited(cid, code, error)
        for fut in self._removed.pop(cid, []):
            if not fut.done():
                fut.set_result((code, error))


def wait_future(c: Container, waiters: Waiters, condition: str) -> asyncio.Future[Result]:
    """The future a ``POST /wait`` resolves with, taken before it answers 200."""
    if condition in ("", "not-running"):
        if not c.state.running:
            fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
            fut.set_result((c.state.exit_code, c.state.error))
            return fut
        return waiters.on_exit(c.id)
    if condition == "next-exit":
        return waiters.on_exit(c.id)
    if condition == "removed":
        return waiters.on_removed(c.id)
    raise errdefs.InvalidParameter(f"invalid condition: {condition!r}")
