"""Swarm membership: a manager admitting a joiner, and what a joiner needs to know.

Manager side (``JoinHandler``, served on the swarm port by ``berthd.cluster.rpc``):
the token presented must be the cluster's manager or worker token (dockerd's
``A valid join token is necessary to join this cluster`` otherwise). A manager joiner
becomes an etcd voting member: MemberAdd of its peer URL (retried while etcd's strict
reconfiguration check refuses it: a member that joined less than 5 s ago is not yet
"connected long enough"), and the answer carries the ``--initial-cluster`` string it
starts its own etcd with (``--initial-cluster-state existing``). One join is admitted
at a time, so a member is never added while the previous one has not started (quorum).
The joiner registers its node object itself once its etcd has joined: between
MemberAdd and that start, a one-member cluster has lost its quorum and could take no
write anyway.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from typing import Any

from berthd.cluster import EtcdClient, EtcdError, Member
from berthd.cluster.rpc import RpcError
from berthd.daemon.cluster.ids import token_matches
from berthd.daemon.cluster.renewal import signed_for
from berthd.daemon.cluster.store import ObjectStore

__all__ = [
    "INVALID_TOKEN",
    "JoinHandler",
    "free_port",
    "initial_cluster",
    "local_addr_towards",
]

log = logging.getLogger("berthd.cluster")

INVALID_TOKEN = (
    "rpc error: code = InvalidArgument desc = A valid join token is necessary to join this cluster"
)
_NODE_ID = re.compile(r"[0-9a-z]{25}")  # SwarmKit's IDs (ids.new_id); also a cert's CN
_MEMBER_ADD_WAIT = 30.0  # etcd wants a new member connected for 5 s before the next


def free_port(host: str) -> int:
    """A TCP port free on ``host`` (OSError when ``host`` is not an address of this node)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def local_addr_towards(host: str) -> str:
    """The address this node reaches ``host`` from (dockerd's default advertise address
    on join: the source address of the route to the remote manager)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.connect((host, 9))
        return str(s.getsockname()[0])


def initial_cluster(members: list[Member], new_name: str, new_peer_url: str) -> str:
    """etcd's ``--initial-cluster``: every started member by name, the new one by
    ``new_name`` (a member not started yet has no name)."""
    parts = []
    for m in members:
        if not m.peer_urls:
            continue
        name = m.name or (new_name if new_peer_url in m.peer_urls else "")
        if name:
            parts.append(f"{name}={m.peer_urls[0]}")
    return ",".join(parts)


class JoinHandler:
    """Admits joiners to the swarm this manager belongs to."""

    def __init__(self, store: ObjectStore, advertise_client_url: str, cluster_token: str) -> None:
        self.store = store
        self.etcd: EtcdClient = store.etcd
        self.client_url = advertise_client_url
        self.cluster_token = cluster_token
        self._lock = asyncio.Lock()

    async def __call__(self, req: dict[str, Any]) -> dict[str, Any]:
        cluster = await self._cluster()
        tokens = cluster.get("JoinTokens") or {}
        presented = str(req.get("Token") or "")
        if token_matches(presented, str(tokens.get("Manager") or "")):
            role = "manager"
        elif token_matches(presented, str(tokens.get("Worker") or "")):
            role = "worker"
        else:
            raise RpcError(INVALID_TOKEN, 400)
        node_id = str(req.get("NodeID") or "")
        if not _NODE_ID.fullmatch(node_id) or await self.store.get("node", node_id) is not None:
            raise RpcError("the joining node needs a new node ID", 400)
        out: dict[str, Any] = {
            "Role": role,
            "CACert": cluster["TLSInfo"]["TrustRoot"],
            "ClientURLs": await self._client_urls(),
        }
        csr = str(req.get("CSR") or "")
        if csr:
            out["Certificate"] = await self._sign(cluster, csr, node_id, role, req)
        if role == "manager":
            peer_url = str(req.get("PeerURL") or "")
            if not peer_url.startswith(("http://", "https://")):
                raise RpcError("a joining manager needs its etcd peer URL", 400)
            async with self._lock:
                members = await self._add_member(peer_url)
            out["InitialCluster"] = initial_cluster(members, node_id, peer_url)
            out["ClusterToken"] = self.cluster_token
        log.info("swarm: node %s joins as a %s", node_id, role)
        return out

    @staticmethod
    async def _sign(
        cluster: dict[str, Any], csr: str, node_id: str, role: str, req: dict[str, Any]
    ) -> str:
        """The joiner's node certificate: its subject (node ID, role, cluster) and its
        address are the manager's, whatever the request says."""
        host = str(req.get("Addr") or "").rsplit(":", 1)[0]
        try:
            return await asyncio.to_thread(signed_for, cluster, csr, node_id, role, host)
        except ValueError as e:
            raise RpcError(str(e), 400) from None
        except RuntimeError as e:
            raise RpcError(f"cannot sign the node certificate: {e}", 400) from None

    async def renew(self, node_id: str, req: dict[str, Any]) -> dict[str, Any]:
        """A node renews its certificate (``node_id``: the CN of the one it presented,
        verified by TLS): signed for that node's present role and address."""
        cluster = await self._cluster()
        node = await self.store.get("node", node_id)
        if node is None:
            raise RpcError(f"node {node_id} is not in this swarm", 403)
        role = str((node.get("Spec") or {}).get("Role") or "worker")
        addr = str((node.get("Status") or {}).get("Addr") or "")
        hostport = f"[{addr}]:0" if ":" in addr else f"{addr}:0"
        csr = str(req.get("CSR") or "")
        cert = await self._sign(cluster, csr, node_id, role, {"Addr": hostport})
        log.info("swarm: renewed the certificate of node %s", node_id)
        return {"Certificate": cert}

    async def _cluster(self) -> dict[str, Any]:
        try:
            cluster = await self.store.get("cluster", "")
        except Exception as e:
            raise RpcError(str(e), 503) from e
        if cluster is None:
            raise RpcError("this node is no longer a manager of a swarm", 503)
        return cluster

    async def _client_urls(self) -> list[str]:
        """Every manager's etcd client URL, this one first (a worker talks to them)."""
        urls = [self.client_url]
        try:
            for m in await self.etcd.member_list():
                urls += [u for u in m.client_urls if u not in urls]
        except EtcdError:
            pass
        return urls

    async def _add_member(self, peer_url: str) -> list[Member]:
        deadline = time.monotonic() + _MEMBER_ADD_WAIT
        while True:
            try:
                members = await self.etcd.member_list()
                if any(peer_url in m.peer_urls for m in members):
                    return members  # added by an attempt whose answer was lost
                _, members = await self.etcd.member_add(peer_url)
                return members
            except EtcdError as e:
                if time.monotonic() > deadline:
                    raise RpcError(f"cannot add this node to the swarm's etcd: {e}", 503) from e
                log.info("swarm: etcd member add of %s waits: %s", peer_url, e)
                await asyncio.sleep(1.0)
