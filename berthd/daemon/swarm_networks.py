"""The API's network backend on a node that may manage a swarm: local networks plus,
on a manager, the swarm's overlay networks (``daemon/cluster/networks.py``).

Above both the cluster and the networks service (it drives them), so neither imports
the other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from berthd.daemon.cluster.networks import (
    NOT_A_MANAGER,
    VXLAN_START,
    allocate_subnet,
    network_matches,
    new_network,
    vxlan_id,
)
from berthd.daemon.cluster.objects import EventLog
from berthd.daemon.cluster.specs import rpc_error
from berthd.daemon.cluster.store import ObjectStore
from berthd.daemon.networks import NetworksService
from berthd.errdefs import Conflict, Forbidden, InvalidParameter, NotFound, Unavailable
from berthd.lib.filters import FilterArgs

__all__ = ["SwarmNetworks"]


class SwarmNetworks:
    """The node's local networks plus, on a manager, the swarm's overlay networks."""

    def __init__(
        self,
        local: NetworksService,
        swarm_store: Callable[[], ObjectStore | None],
        events: EventLog | None = None,
    ) -> None:
        self.local = local
        self._store = swarm_store
        self._event = events

    async def _all(self) -> list[dict[str, Any]]:
        store = self._store()
        if store is None:
            return []
        nets = await store.list("network")
        for n in nets:
            n.pop("Version", None)
            n.pop("ID", None)
        return nets

    async def _find(self, ref: str) -> dict[str, Any] | None:
        nets = await self._all() if ref else []
        for found in (
            [n for n in nets if n["Id"] == ref],
            [n for n in nets if n["Name"] == ref],
            [n for n in nets if n["Id"].startswith(ref)],
        ):
            if len(found) == 1:
                return found[0]
        return None

    async def list_networks(self, filters: FilterArgs) -> list[dict[str, Any]]:
        local = await self.local.list_networks(filters)
        return local + [n for n in await self._all() if network_matches(n, filters)]

    async def inspect(self, ref: str) -> dict[str, Any]:
        try:
            return await self.local.inspect(ref)
        except NotFound:
            net = await self._find(ref)
            if net is None:
                raise
            return net

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        if (body.get("Driver") or "bridge") != "overlay":
            return await self.local.create(body)
        store = self._store()
        if store is None:
            raise Unavailable(NOT_A_MANAGER)
        name = str(body.get("Name") or "")
        if not name:
            raise InvalidParameter("invalid name: ")
        nets = await self._all()
        if any(n["Name"] == name for n in nets):
            raise rpc_error(Conflict, f"network with name {name} already exists")
        try:
            await self.local.inspect(name)
        except NotFound:
            pass
        else:
            raise Conflict(f"network with name {name} already exists")
        cluster = await store.get("cluster", "") or {}
        subnet = allocate_subnet(body, cluster, nets)
        vni = max((vxlan_id(n) for n in nets), default=VXLAN_START) + 1
        net = new_network(name, subnet, vni, body)
        await store.create("network", dict(net, ID=net["Id"]), name)
        self._log("create", net)
        return {"Id": net["Id"], "Warning": ""}

    def _log(self, action: str, net: dict[str, Any]) -> None:
        if self._event is not None:
            attrs = {"name": net["Name"], "type": "overlay"}
            self._event("network", action, net["Id"], attrs, "swarm")

    async def _users(self, store: ObjectStore, net: dict[str, Any]) -> list[str]:
        return [
            s["Spec"]["Name"]
            for s in await store.list("service")
            if any(
                (a or {}).get("Target") in (net["Id"], net["Name"])
                for a in (s["Spec"].get("TaskTemplate") or {}).get("Networks")
                or s["Spec"].get("Networks")
                or []
            )
        ]

    async def remove(self, ref: str) -> None:
        net = await self._find(ref)
        store = self._store()
        if net is None or store is None:
            await self.local.remove(ref)
            return
        if net["Ingress"] is False:
            users = await self._users(store, net)
            if users:
                raise rpc_error(
                    InvalidParameter,
                    f"network {net['Name']} is in use by service {users[0]}",
                    "FailedPrecondition",
                )
        await store.remove("network", net["Id"], net["Name"])
        self._log("remove", net)

    async def prune(self, filters: FilterArgs) -> dict[str, Any]:
        """Local networks, then the overlay ones no service uses (never ingress)."""
        out = await self.local.prune(filters)
        store = self._store()
        if store is None:
            return out
        deleted = list(out.get("NetworksDeleted") or [])
        for net in await self._all():
            if net["Ingress"] or not filters.match_kv_list("label", net["Labels"]):
                continue
            if not await self._users(store, net):
                await store.remove("network", net["Id"], net["Name"])
                self._log("remove", net)
                deleted.append(net["Name"])
        return dict(out, NetworksDeleted=deleted)

    async def connect(self, ref: str, body: dict[str, Any]) -> None:
        net = await self._find(ref)
        if net is None:
            await self.local.connect(ref, body)
            return
        if not net["Attachable"]:
            raise Forbidden(
                f"Could not attach to network {ref}: rpc error: code = PermissionDenied "
                f"desc = network {ref} not manually attachable"
            )
        raise Forbidden("attaching containers to overlay networks is not supported by berthd yet")

    async def disconnect(self, ref: str, body: dict[str, Any]) -> None:
        if await self._find(ref) is None:
            await self.local.disconnect(ref, body)
            return
        raise Forbidden("overlay networks have no containers on berthd yet")
