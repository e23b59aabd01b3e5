"""A node's liveness: ``alive/<node>`` bound to a lease of 3 × the heartbeat period.

Every node (manager or worker: a worker's EtcdClient is the proxy to its manager) keeps
the key alive five times per ``Dispatcher.HeartbeatPeriod`` (5 s by default; the lease
is 3 periods, so a node is Down 14-15 s after it stopped, as SwarmKit's
GracePeriodMultiplier of 3 gives 13.5-16.5 s). Renewals
are not Raft writes. An expired lease is replaced by a new one, so a node that was
frozen or cut off is alive again at its first renewal after it returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from berthd.cluster import EtcdClient, EtcdError
from berthd.daemon.cluster.store import ALIVE
from berthd.lib.tasks import cancel_and_wait

__all__ = ["DEFAULT_PERIOD_NS", "Heartbeat", "alive_nodes"]

log = logging.getLogger("berthd.cluster")

DEFAULT_PERIOD_NS = 5_000_000_000
GRACE_MULTIPLIER = 3
RENEWALS_PER_PERIOD = 5


class Heartbeat:
    def __init__(self, etcd: EtcdClient, node_id: str, period_ns: int = DEFAULT_PERIOD_NS):
        self.etcd = etcd
        self.node_id = node_id
        self.period_ns = period_ns or DEFAULT_PERIOD_NS
        self._lease = 0
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
        return max(1, round(GRACE_MULTIPLIER * self.period))

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self, revoke: bool = True) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if revoke and self._lease:
            with contextlib.suppress(EtcdError):
                await self.etcd.lease_revoke(self._lease)
        self._lease = 0

    async def beat(self) -> None:
        """One renewal; a new lease and key when the old one expired (or never was)."""
        if self._lease and await self.etcd.lease_keepalive(self._lease) > 0:
            return
        lease = await self.etcd.lease_grant(self.ttl)
        await self.etcd.put(ALIVE + self.node_id, b"", lease=lease.id)
        self._lease = lease.id

    async def _loop(self) -> None:
        while True:
            try:
                await self.beat()
            except EtcdError as e:
                log.warning("swarm heartbeat of %s: %s", self.node_id, e)
            await asyncio.sleep(self.renew_every)


async def alive_nodes(etcd: EtcdClient, serializable: bool = False) -> set[str]:
    return {kv.key[len(ALIVE) :] for kv in await etcd.get_prefix(ALIVE, serializable)}
