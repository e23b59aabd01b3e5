"""``docker attach`` / ``docker run`` (not -d) / ``docker start -a``.

dockerd lets a client attach to a container that is not running: the stream
then begins at the next start (that is how ``docker run`` and ``start -a``
see the first bytes). conmon does not replay output, so berthd connects such
pending clients to conmon's attach socket after ``runtime create`` and before
``runtime start``: nothing the process writes is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from dataclasses import dataclass

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.streams import (
    DEFAULT_DETACH_KEYS,
    ClientConn,
    parse_detach_keys,
    pump,
)
from berthd.runtime.attach import AttachSession

__all__ = ["AttachPlan", "PendingAttaches"]


@dataclass
class AttachPlan:
    container: Container
    stdin: bool
    stdout: bool
    stderr: bool
    stream: bool
    logs: bool
    detach_keys: bytes

    @property
    def tty(self) -> bool:
        return self.container.tty


class PendingAttaches:
    """Clients waiting for a container's next start."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[asyncio.Future[AttachSession | None]]] = defaultdict(list)

    def wait_for_start(self, cid: str) -> asyncio.Future[AttachSession | None]:
        fut: asyncio.Future[AttachSession | None] = asyncio.get_running_loop().create_future()
        self._waiting[cid].append(fut)
        return fut

    def has_waiters(self, cid: str) -> bool:
        return any(not f.done() for f in self._waiting.get(cid, []))

    def take(self, cid: str) -> list[asyncio.Future[AttachSession | None]]:
        return [f for f in self._waiting.pop(cid, []) if not f.done()]

    def cancel_all(self) -> None:
        for cid in list(self._waiting):
            self.cancel(cid)

    def cancel(self, cid: str) -> None:
        for f in self._waiting.pop(cid, []):
            if not f.done():
                f.set_result(None)


def plan_attach(
    c: Container,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    stream: bool,
    logs: bool,
    detach_keys: str,
) -> AttachPlan:
    if c.state.paused:
        raise errdefs.Conflict(
            f"container {c.name.lstrip('/')} is paused, unpause the container before attach"
        )
    if c.state.restarting:
        raise errdefs.Conflict(
            f"container {c.name.lstrip('/')} is restarting, wait until the container is running"
        )
    keys = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
    return AttachPlan(
        c, stdin and bool(c.config.get("OpenStdin")), stdout, stderr, stream, logs, keys
    )


async def run_attach(
    plan: AttachPlan,
    conn: ClientConn,
    session: AttachSession | None,
    pending: asyncio.Future[AttachSession | None] | None,
) -> bool:
    """Stream until the process ends or the client detaches; True if it detached."""
    if session is None and pending is not None:
        waiter = asyncio.ensure_future(pending)
        while not waiter.done():
            done, _ = await asyncio.wait({waiter}, timeout=1.0)
            if not done and conn.closed:
                waiter.cancel()
                return False
        session = waiter.result()
    if session is None:
        return False
    try:
        return await pump(
            conn,
            session,
            tty=plan.tty,
            stdin=plan.stdin,
            stdout=plan.stdout,
            stderr=plan.stderr,
            detach_keys=plan.detach_keys if plan.stdin else None,
            close_stdin_on_eof=bool(plan.container.config.get("StdinOnce")),
        )
    finally:
        with contextlib.suppress(Exception):
            session.close()
