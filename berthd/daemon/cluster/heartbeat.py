"""A node's liveness: ``alive/<node>`` bound to a lease of 3 × the heartbeat period.

Every node keeps the key alive (a manager on its etcd member, a worker through a
manager's dispatcher, which renews the lease for it) five times per ``Dispatcher.HeartbeatPeriod`` (5 s by default; the lease
is 3 periods, so a node is Down 14-15 s after it stopped, as SwarmKit's
GracePeriodMultiplier of 3 gives 13.5-16.5 s). Renewals
are not Raft writes. An expired lease is replaced by a new one, so a node that was
frozen or cut off is alive again at its first renewal after it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from berthd.cluster import EtcdClient, EtcdError
from berthd.daemon.cluster.store import ALIVE
from berthd.lib.tasks import cancel_and_wait

__all__ = [
    "DEFAULT_PERIOD_NS",
    "EtcdLiveness",
    "Heartbeat",
    "Liveness",
    "alive_nodes",
    "keep_alive",
    "ttl_of",
]

log = logging.getLogger("berthd.cluster")

DEFAULT_PERIOD_NS = 5_000_000_000
GRACE_MULTIPLIER = 3
RENEWALS_PER_PERIOD = 5


def ttl_of(period_ns: int) -> int:
    """The liveness lease's TTL (seconds) for a heartbeat period."""
    return max(1, round(GRACE_MULTIPLIER * (period_ns or DEFAULT_PERIOD_NS) / 1e9))


async def keep_alive(etcd: EtcdClient, node_id: str, lease: int, ttl: int) -> int:
    """Renew ``alive/<node>``'s lease once; a new lease and key when the old one expired
    (or never was). The lease that holds the key now."""
    if lease and await etcd.lease_keepalive(lease) > 0:
        return lease
    granted = await etcd.lease_grant(ttl)
    await etcd.put(ALIVE + node_id, b"", lease=granted.id)
    return granted.id


class Liveness(Protocol):
    """Where a node's heartbeat goes: its own etcd member (a manager) or a manager's
    dispatcher (a worker)."""

    async def renew(self, ttl: int) -> int:
        """One renewal; the heartbeat period the swarm asks for now (ns), 0: unchanged."""
        ...

    async def revoke(self) -> None: ...


class EtcdLiveness:
    """A manager's own heartbeat, straight on the store."""

    def __init__(self, etcd: EtcdClient, node_id: str) -> None:
        self.etcd = etcd
        self.node_id = node_id
        self._lease = 0

    async def renew(self, ttl: int) -> int:
        self._lease = await keep_alive(self.etcd, self.node_id, self._lease, ttl)
        return 0

    async def revoke(self) -> None:
        lease, self._lease = self._lease, 0
        if lease:
            with contextlib.suppress(EtcdError):
                await self.etcd.lease_revoke(lease)


class Heartbeat:
    def __init__(self, liveness: Liveness, period_ns: int = DEFAULT_PERIOD_NS):
        self.liveness = liveness
        self.period_ns = period_ns or DEFAULT_PERIOD_NS
        self._task: asyncio.Task[None] | None = None

    @property
    def period(self) -> float:
        return self.period_ns / 1e9

    @property
    def renew_every(self) -> float:
        """The lease is renewed five times a period, so a node that stops is Down a
        full TTL (3 periods, 15 s) after it stopped, give or take a fifth of a period,
        as SwarmKit's 13.5-16.5 s; renewals are no Raft writes."""
        return max(0.2, self.period / RENEWALS_PER_PERIOD)

    @property
    def ttl(self) -> int:
        return ttl_of(self.period_ns)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self, revoke: bool = True) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if revoke:
            await self.liveness.revoke()

    async def beat(self) -> None:
        period = await self.liveness.renew(self.ttl)
        if period:
            self.period_ns = period

    async def _loop(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception as e:  # etcd or the managers away for a moment
                log.warning("swarm heartbeat: %s", e)
            await asyncio.sleep(self.renew_every)


async def alive_nodes(etcd: EtcdClient, serializable: bool = False) -> set[str]:
    return {kv.key[len(ALIVE) :] for kv in await etcd.get_prefix(ALIVE, serializable)}
