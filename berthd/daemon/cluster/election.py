"""Leader election on etcd: the ``leader`` key, bound to a 3 s lease.

A manager campaigns by creating the key (create-if-absent) with a lease of its own and
keeps the lease alive every second; the key's ``create_revision`` is its fencing token,
which every leader write to ``tasks/`` compares, so a deposed leader (its lease expired
while it was frozen or cut off) cannot write any more. The key goes with the lease and
another manager takes it within the TTL. The orchestrator keeps no state of its own
(it rebuilds everything from etcd at each pass), so a leader change restarts no task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from berthd.cluster import Compare, EtcdClient, EtcdError, TxnOp
from berthd.daemon.cluster.store import LEADER
from berthd.lib.tasks import cancel_and_wait

__all__ = ["LEADER_TTL", "LeaderElection", "leader_id"]

log = logging.getLogger("berthd.cluster")

LEADER_TTL = 3  # seconds
_RENEW = 1.0


class LeaderElection:
    """Campaigns for ``node_id``; ``token`` is the fence while this node leads."""

    def __init__(self, etcd: EtcdClient, node_id: str) -> None:
        self.etcd = etcd
        self.node_id = node_id
        self._lease = 0
        self._revision = 0
        self._task: asyncio.Task[None] | None = None
        self.changed = asyncio.Event()

    @property
    def leading(self) -> bool:
        return self._revision != 0

    @property
    def token(self) -> Compare:
        """The fence: the leader key still has the create_revision this node made."""
        return Compare(LEADER, self._revision, "CREATE")

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        """Stop campaigning; a leader resigns (revokes its lease) at once."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self._lease:
            with contextlib.suppress(EtcdError):
                await self.etcd.lease_revoke(self._lease)
        self._set(0, 0)

    def _set(self, lease: int, revision: int) -> None:
        if revision != self._revision:
            self.changed.set()
        self._lease, self._revision = lease, revision

    async def campaign_once(self) -> bool:
        """One round: renew the lease while leading, else try to take the key."""
        if self._lease:
            if await self.etcd.lease_keepalive(self._lease) > 0:
                kv = await self.etcd.get(LEADER)
                if kv is not None and kv.create_revision == self._revision:
                    return True
            log.warning("swarm: node %s lost the leadership", self.node_id)
            self._set(0, 0)
        if await self.etcd.get(LEADER) is not None:
            return False
        lease = await self.etcd.lease_grant(LEADER_TTL)
        result = await self.etcd.txn(
            [Compare(LEADER, 0, "CREATE")],
            [TxnOp("put", LEADER, self.node_id.encode(), lease=lease.id)],
        )
        if not result.succeeded:
            await self.etcd.lease_revoke(lease.id)
            return False
        self._set(lease.id, result.revision)
        log.info("swarm: node %s is the leader (token %d)", self.node_id, result.revision)
        return True

    async def _loop(self) -> None:
        while True:
            try:
                await self.campaign_once()
            except EtcdError as e:
                log.warning("swarm election: %s", e)
                self._set(0, 0)  # unsure: step down; the fence guards writes anyway
            await asyncio.sleep(_RENEW if self.leading else _RENEW / 2)


async def leader_id(etcd: EtcdClient, serializable: bool = False) -> str:
    """The node ID of the current leader, "" when there is none."""
    kv = await etcd.get(LEADER, serializable)
    return kv.value.decode() if kv is not None else ""
