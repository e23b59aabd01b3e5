"""The managers' dispatcher: all a worker may know of the swarm, and all it may write.

A worker holds no etcd certificate (etcd trusts the managers' CA only), so the store is
closed to it; it talks to any manager's swarm port instead, as a SwarmKit agent talks
to a manager's dispatcher, and every call is answered for the node its certificate
names (the CN, verified by TLS against the swarm's root CA), never for a node the
request names:

- ``assignments``: its tasks, their services, the secrets and configs they reference
  (``assignments.py``), its own node object (its role: promote/demote), the managers'
  swarm ports, and of the cluster object only what a node needs (the heartbeat period,
  the certificate expiry), never its keys or join tokens;
- ``status``: a task's status, refused for a task that is not the node's;
- ``heartbeat``: the manager renews the node's ``alive/<node>`` lease for it (a
  keepalive, no Raft write), revokes it when the node leaves, and records the node's
  swarm port for task logs. The lease's ID travels with the node, so a worker that moves
  to another manager keeps its lease (the new manager checks the key is held by it).

A node removed from the swarm (no node object) is refused every call.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from berthd.cluster import EtcdError
from berthd.cluster.rpc import RpcError
from berthd.daemon.cluster.assignments import assignments_of
from berthd.daemon.cluster.heartbeat import DEFAULT_PERIOD_NS, keep_alive, ttl_of
from berthd.daemon.cluster.store import ALIVE, NoLeader, ObjectStore

__all__ = ["Dispatcher", "node_cluster_view"]

log = logging.getLogger("berthd.cluster")

_CACHE_SECONDS = 2.0


def node_cluster_view(cluster: dict[str, Any]) -> dict[str, Any]:
    """The part of the cluster object a worker is given."""
    spec = cluster.get("Spec") or {}
    ca = spec.get("CAConfig") or {}
    return {
        "ID": cluster.get("ID", ""),
        "Spec": {
            "Dispatcher": dict(spec.get("Dispatcher") or {}),
            "CAConfig": {"NodeCertExpiry": ca.get("NodeCertExpiry", 0)},
        },
    }


def _period(cluster: dict[str, Any]) -> int:
    spec = cluster.get("Spec") or {}
    return int((spec.get("Dispatcher") or {}).get("HeartbeatPeriod") or DEFAULT_PERIOD_NS)


class Dispatcher:
    """A manager's answers to the nodes' dispatcher calls (``berthd.cluster.rpc``)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store
        self._leases: dict[str, int] = {}  # node → the lease this manager renews for it
        self._endpoints: dict[str, str] = {}  # node → its swarm port, as last recorded
        self._cached: tuple[float, dict[str, Any], list[str]] | None = None

    async def _node(self, node_id: str) -> dict[str, Any]:
        try:
            node = await self.store.get("node", node_id)
        except NoLeader as e:
            raise RpcError(str(e), 503) from None
        if node is None:
            raise RpcError(f"node {node_id} is not in this swarm", 403)
        return node

    async def _cluster_and_managers(self) -> tuple[dict[str, Any], list[str]]:
        """The cluster object and the managers' swarm ports, read at most every 2 s."""
        now = time.monotonic()
        if self._cached is not None and now - self._cached[0] < _CACHE_SECONDS:
            return self._cached[1], self._cached[2]
        cluster = await self.store.get("cluster", "")
        if cluster is None:
            raise RpcError("this node is no longer a manager of a swarm", 503)
        managers = [
            str(n["ManagerStatus"].get("Addr") or "")
            for n in await self.store.list("node")
            if n.get("ManagerStatus") and n["ManagerStatus"].get("Addr")
        ]
        self._cached = (now, cluster, managers)
        return cluster, managers

    async def assignments(self, node_id: str, req: dict[str, Any]) -> dict[str, Any]:
        try:
            node = await self._node(node_id)
            cluster, managers = await self._cluster_and_managers()
            out = (await assignments_of(self.store, node_id)).to_json()
        except NoLeader as e:
            raise RpcError(str(e), 503) from None
        out.update(Node=node, Cluster=node_cluster_view(cluster), Managers=managers)
        if (node.get("Spec") or {}).get("Role") == "manager":  # promoted: where to join
            try:
                out["ClientURLs"] = [
                    u for m in await self.store.etcd.member_list() for u in m.client_urls
                ]
            except EtcdError as e:
                raise RpcError(f"the swarm's members: {e}", 503) from None
        return out

    async def status(self, node_id: str, req: dict[str, Any]) -> dict[str, Any]:
        task_id, status = req.get("TaskID"), req.get("Status")
        if not isinstance(task_id, str) or not isinstance(status, dict):
            raise RpcError("a status call needs TaskID and Status", 400)
        try:
            await self._node(node_id)
            task = await self.store.get("task", task_id)
            if task is None or task.get("NodeID") != node_id:
                raise RpcError(f"task {task_id} is not assigned to node {node_id}", 403)
            await self.store.put_status(task_id, status)
        except NoLeader as e:
            raise RpcError(str(e), 503) from None
        return {}

    async def heartbeat(self, node_id: str, req: dict[str, Any]) -> dict[str, Any]:
        etcd = self.store.etcd
        try:
            await self._node(node_id)
            lease = await self._lease_of(node_id, req.get("Lease"))
            if req.get("Leave"):
                self._leases.pop(node_id, None)
                if lease:
                    await etcd.lease_revoke(lease)
                return {}
            cluster, _ = await self._cluster_and_managers()
            period = _period(cluster)
            lease = await keep_alive(etcd, node_id, lease, ttl_of(period))
            self._leases[node_id] = lease
            endpoint = req.get("Endpoint")
            if isinstance(endpoint, str) and endpoint and self._endpoints.get(node_id) != endpoint:
                await self.store.put_endpoint(node_id, endpoint)
                self._endpoints[node_id] = endpoint
        except (NoLeader, EtcdError) as e:
            raise RpcError(f"the heartbeat of node {node_id}: {e}", 503) from None
        return {"Lease": lease, "Period": period}

    async def _lease_of(self, node_id: str, presented: Any) -> int:
        """The lease that holds the node's key: this manager's, or the one the node
        brings from another manager once the store shows that lease holds its key."""
        known = self._leases.get(node_id, 0)
        if isinstance(presented, int) and presented and presented != known:
            kv = await self.store.etcd.get(ALIVE + node_id)
            if kv is not None and kv.lease == presented:
                return presented
        return known
