"""A worker's session with the managers: its assignments, its tasks' status, its heartbeat.

The worker has no etcd of its own and no certificate etcd accepts; everything it needs
goes through the managers' dispatcher (``dispatcher.py``) on their swarm ports, over one
kept-alive HTTPS connection that presents its node certificate. It keeps the list of
managers' swarm ports (from its join, then from each assignments answer) and stays with
the one that answers; when that one cannot be reached or has no quorum it tries the
others in turn, so the worker is not cut off when the manager it joined through goes.
It satisfies the agent's ``TaskSource`` and the heartbeat's ``Liveness``.
"""

from __future__ import annotations

import logging
from typing import Any

from berthd.cluster.rpc import (
    ASSIGNMENTS_PATH,
    HEARTBEAT_PATH,
    STATUS_PATH,
    NodeClient,
    RpcError,
)
from berthd.daemon.cluster.assignments import Assignments

__all__ = ["DispatcherSession"]

log = logging.getLogger("berthd.cluster")


class DispatcherSession:
    def __init__(self, client: NodeClient, managers: list[str]) -> None:
        self.client = client
        self.managers = list(dict.fromkeys(m for m in managers if m))
        self.endpoint = ""  # this node's own swarm port, sent with each heartbeat
        self.node: dict[str, Any] | None = None  # its node object, as last given
        self.cluster: dict[str, Any] | None = None  # what a node sees of the cluster
        self.client_urls: list[str] = []  # the managers' etcd, given once promoted
        self._lease = 0

    @property
    def current(self) -> str:
        return self.managers[0] if self.managers else ""

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """The call at the manager in use, else at each other in turn (the first that
        answers is used from then on). A refusal (4xx) is raised as it is."""
        if not self.managers:
            raise RpcError("this node knows no manager of its swarm", 0)
        last: RpcError | None = None
        for _ in range(len(self.managers)):
            addr = self.managers[0]
            try:
                return await self.client.call(addr, path, body)
            except RpcError as e:
                if 400 <= e.status < 500:
                    raise
                last = e
                log.info("swarm: manager %s: %s", addr, e.message)
                self.managers.append(self.managers.pop(0))
        assert last is not None
        raise last

    async def assignments(self) -> Assignments:
        out = await self.call(ASSIGNMENTS_PATH, {})
        try:
            given = Assignments.from_json(out)
        except ValueError as e:
            raise RpcError(str(e), 502) from None
        node, cluster = out.get("Node"), out.get("Cluster")
        self.node = node if isinstance(node, dict) else None
        self.cluster = cluster if isinstance(cluster, dict) else None
        self.client_urls = [str(u) for u in out.get("ClientURLs") or []]
        known = [str(m) for m in out.get("Managers") or [] if m]
        if known:  # the one in use stays first; the others as the swarm has them now
            self.managers = [m for m in dict.fromkeys([self.current, *known]) if m]
        return given

    async def put_status(self, task_id: str, status: dict[str, Any]) -> None:
        await self.call(STATUS_PATH, {"TaskID": task_id, "Status": status})

    async def renew(self, ttl: int) -> int:
        out = await self.call(HEARTBEAT_PATH, {"Lease": self._lease, "Endpoint": self.endpoint})
        self._lease = int(out.get("Lease") or 0)
        return int(out.get("Period") or 0)

    async def revoke(self) -> None:
        try:
            await self.call(HEARTBEAT_PATH, {"Leave": True, "Lease": self._lease})
        except RpcError as e:
            log.warning("swarm: the heartbeat could not be revoked: %s", e.message)
        self._lease = 0

    async def close(self) -> None:
        await self.client.close()
