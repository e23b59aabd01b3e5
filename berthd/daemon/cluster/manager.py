"""The swarm this node manages: the cluster object, its join tokens, and /info's view.

``bootstrap`` writes the cluster object and this node at ``swarm init``;
``register`` writes the node object of a node that has just joined; ``load``
reads them back at every start. ``info`` must answer without I/O (/info and /_ping are
synchronous), so the cluster object and the node counts are cached and
refreshed after every write this manager makes.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berthd.daemon.cluster.ids import RootCA, join_token, unlock_key
from berthd.daemon.cluster.networks import ingress_network
from berthd.daemon.cluster.objects import EventLog, SwarmObjects
from berthd.daemon.cluster.specs import swarm_spec
from berthd.daemon.cluster.store import ObjectStore
from berthd.errdefs import Conflict, InvalidParameter, System
from berthd.lib.timefmt import format_ns, now_ns

__all__ = ["LocalNode", "SwarmManager"]


@dataclass(frozen=True)
class LocalNode:
    """This node's identity and addresses in its swarm (kept in ``swarm/state.json``)."""

    node_id: str
    advertise_addr: str  # host:port of the control plane
    listen_addr: str
    data_path_addr: str = ""

    @property
    def addr(self) -> str:
        return self.advertise_addr.rsplit(":", 1)[0].strip("[]")


class SwarmManager:
    """Satisfies the swarm verbs of ``SwarmBackend`` for an active manager."""

    def __init__(self, store: ObjectStore, node: LocalNode, events: EventLog) -> None:
        self.store = store
        self.node = node
        self.objects = SwarmObjects(store, node.node_id, events)
        self._event = events
        self._cluster: dict[str, Any] = {}
        self._nodes = 0
        self._managers = 0
        self._remotes: list[dict[str, str]] = []

    # -- bootstrap and load -----------------------------------------------------------
    async def bootstrap(
        self, req: dict[str, Any], description: dict[str, Any], ca: RootCA, cluster_id: str
    ) -> None:
        """The cluster object and this node, at ``swarm init`` (``ca``: the root CA this
        node's certificate was signed with, ``cluster_id`` the O of its subject)."""
        availability = str(req.get("Availability") or "active")
        if availability not in ("active", "pause", "drain"):
            raise InvalidParameter(f'invalid Availability: "{availability}"')
        now = format_ns(now_ns())
        spec = swarm_spec(req.get("Spec"))
        # dockerd 23+ reports its default pool (20.10 answered null)
        pools = req.get("DefaultAddrPool") or ["10.0.0.0/8"]
        cluster = {
            "ID": cluster_id,
            "CreatedAt": now,
            "UpdatedAt": now,
            "Spec": spec,
            "TLSInfo": ca.tls_info(),
            "RootRotationInProgress": False,
            "DefaultAddrPool": pools,
            "SubnetSize": int(req.get("SubnetSize") or 24),
            "DataPathPort": int(req.get("DataPathPort") or 4789),
            "JoinTokens": {"Worker": join_token(ca), "Manager": join_token(ca)},
            "UnlockKey": unlock_key() if spec["EncryptionConfig"]["AutoLockManagers"] else "",
            "CAKey": ca.key_pem,
        }
        await self.store.create("cluster", cluster)
        node = {
            "ID": self.node.node_id,
            "CreatedAt": now,
            "UpdatedAt": now,
            "Spec": {
                "Labels": {},
                "Role": "manager",
                "Availability": availability,
            },
            "Description": dict(description, TLSInfo=ca.tls_info()),
            "Status": {"State": "ready", "Addr": self.node.addr},
            "ManagerStatus": {
                "Leader": True,
                "Reachability": "reachable",
                "Addr": self.node.advertise_addr,
            },
        }
        await self.store.create("node", node)
        ingress = ingress_network(pools, int(req.get("SubnetSize") or 24))
        await self.store.create("network", dict(ingress, ID=ingress["Id"]), "ingress")
        await self.refresh()

    async def register(self, role: str, availability: str, description: dict[str, Any]) -> None:
        """This node's object, written by a node that has just joined (its etcd member is
        up, or it is a worker talking to a manager's)."""
        if availability not in ("active", "pause", "drain"):
            raise InvalidParameter(f'invalid Availability: "{availability}"')
        cluster = await self.store.get("cluster", "")
        if cluster is None:
            raise System("the swarm's cluster object is missing from etcd")
        now = format_ns(now_ns())
        node: dict[str, Any] = {
            "ID": self.node.node_id,
            "CreatedAt": now,
            "UpdatedAt": now,
            "Spec": {"Labels": {}, "Role": role, "Availability": availability},
            "Description": dict(description, TLSInfo=cluster["TLSInfo"]),
            "Status": {"State": "ready", "Addr": self.node.addr},
        }
        if role == "manager":
            node["ManagerStatus"] = {
                "Reachability": "reachable",
                "Addr": self.node.advertise_addr,
            }
        await self.store.create("node", node)
        await self.refresh()

    async def load(self) -> None:
        await self.refresh()

    async def take_manager_status(self) -> None:
        """A promoted node, its etcd member up: its node object gets its manager status
        (Reachable; Leader comes from the election), as a joining manager's does."""
        for _ in range(5):
            obj = await self.store.get("node", self.node.node_id)
            if obj is None:
                raise System("this node's object is missing from the swarm")
            obj["ManagerStatus"] = {"Reachability": "reachable", "Addr": self.node.advertise_addr}
            obj["UpdatedAt"] = format_ns(now_ns())
            try:
                await self.store.update("node", obj, obj["Version"]["Index"])
                break
            except System:  # "update out of sequence": the leader wrote its status meanwhile
                continue
        await self.refresh()

    async def refresh(self) -> None:
        cluster = await self.store.get("cluster", "")
        if cluster is None:
            raise System("the swarm's cluster object is missing from etcd")
        self._cluster = cluster
        nodes = await self.store.list("node")
        self._nodes = len(nodes)
        self._remotes = [
            {"NodeID": n["ID"], "Addr": n["ManagerStatus"].get("Addr", "")}
            for n in nodes
            if n.get("ManagerStatus")
        ]
        self._managers = len(self._remotes)

    # -- /swarm ---------------------------------------------------------------------
    def _public(self, with_tokens: bool) -> dict[str, Any]:
        c = copy.deepcopy(self._cluster)
        out = {
            k: c.get(k)
            for k in (
                "ID",
                "Version",
                "CreatedAt",
                "UpdatedAt",
                "Spec",
                "TLSInfo",
                "RootRotationInProgress",
                "DefaultAddrPool",
                "SubnetSize",
                "DataPathPort",
            )
        }
        if with_tokens:
            out["JoinTokens"] = c.get("JoinTokens")
        return out

    async def inspect(self) -> dict[str, Any]:
        await self.refresh()
        return self._public(with_tokens=True)

    async def update(self, version: int, spec: dict[str, Any], rotate: Mapping[str, bool]) -> None:
        await self.refresh()
        cluster = copy.deepcopy(self._cluster)
        new_spec = swarm_spec(spec, cluster["Spec"])
        # the spec sent replaces the stored one; only what is absent keeps its value
        ca = RootCA(cluster["TLSInfo"]["TrustRoot"], cluster.get("CAKey", ""), b"")
        tokens = cluster["JoinTokens"]
        if rotate.get("rotateWorkerToken"):
            tokens["Worker"] = join_token(ca)
        if rotate.get("rotateManagerToken"):
            tokens["Manager"] = join_token(ca)
        autolock = bool(new_spec["EncryptionConfig"].get("AutoLockManagers"))
        if not autolock:
            cluster["UnlockKey"] = ""
        elif not cluster.get("UnlockKey") or rotate.get("rotateManagerUnlockKey"):
            cluster["UnlockKey"] = unlock_key()
        cluster["Spec"] = new_spec
        cluster["UpdatedAt"] = format_ns(now_ns())
        await self.store.update("cluster", cluster, version)
        await self.refresh()

    async def unlock_key(self) -> str:
        await self.refresh()
        return str(self._cluster.get("UnlockKey") or "")

    async def unlock(self, req: dict[str, Any]) -> None:
        raise Conflict("swarm is not locked")  # an active manager is never locked here

    # -- /info ----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {
            "NodeID": self.node.node_id,
            "NodeAddr": self.node.addr,
            "LocalNodeState": "active",
            "ControlAvailable": True,
            "Error": "",
            "RemoteManagers": copy.deepcopy(self._remotes)
            or [{"NodeID": self.node.node_id, "Addr": self.node.advertise_addr}],
            "Nodes": self._nodes,
            "Managers": self._managers,
            "Cluster": self._public(with_tokens=False),
        }

    async def node_counts_changed(self) -> None:
        await self.refresh()
