"""One node's swarm loop: heartbeat, election, the leader's controllers, the agent.

Each pass (every second, or at once after a local change) runs the orchestrator when
this node leads (with the election's fence) and then the agent. The heartbeat and the
election renew their leases on timers of their own, so a slow pass cannot make a node
look Down or lose the leadership. The first heartbeat is written before the first
pass, so a new leader never sees its own node without a liveness key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from berthd.daemon.cluster.agent import TaskAgent
from berthd.daemon.cluster.election import LeaderElection
from berthd.daemon.cluster.heartbeat import DEFAULT_PERIOD_NS, Heartbeat
from berthd.daemon.cluster.orchestrator import Orchestrator
from berthd.lib.tasks import cancel_and_wait

__all__ = ["NodeLoop"]

log = logging.getLogger("berthd.cluster")

_PASS_SECONDS = 1.0


class NodeLoop:
    def __init__(self, agent: TaskAgent, manager: bool = True) -> None:
        self.agent = agent
        store = agent.store
        self.election = LeaderElection(store.etcd, agent.node_id) if manager else None
        self.orchestrator = Orchestrator(store)
        self.heartbeat: Heartbeat | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def poke(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        """Stop the loop; a leader resigns at once, the heartbeat lease runs out on its own."""
        task, self._task = self._task, None
        await cancel_and_wait(task)
        if self.election is not None:
            await self.election.stop()
        if self.heartbeat is not None:
            await self.heartbeat.stop(revoke=False)  # a restart is not a Down node

    async def _period(self) -> int:
        cluster = await self.agent.store.get("cluster", "")
        spec = (cluster or {}).get("Spec") or {}
        return int((spec.get("Dispatcher") or {}).get("HeartbeatPeriod") or DEFAULT_PERIOD_NS)

    async def _run(self) -> None:
        while self.heartbeat is None:
            try:
                hb = Heartbeat(self.agent.store.etcd, self.agent.node_id, await self._period())
                await hb.beat()
                self.heartbeat = hb
            except Exception as e:  # etcd not answering yet, or the cluster object
                log.warning("swarm heartbeat: %s", e)
                await asyncio.sleep(_PASS_SECONDS)
        self.heartbeat.start()
        if self.election is not None:
            self.election.start()
        while True:
            try:
                if self.election is not None and self.election.leading:
                    await self.orchestrator.reconcile(self.election.token)
                await self.agent.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("swarm task pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _PASS_SECONDS)
