"""Overlay networks as swarm objects, beside the node's local networks.

``SwarmNetworks`` satisfies the API's ``NetworkBackend``: ``-d overlay`` creates go
to the swarm (etcd key ``networks/<id>``, name unique among swarm networks and not
taken by a local one), with a subnet allocated from the swarm's ``DefaultAddrPool``
(10.0.0.0/8 when none was given) in ``SubnetSize`` blocks and a VXLAN ID from 4097;
``ingress`` is made at ``swarm init`` (10.0.0.0/24 of the default pool), as dockerd
makes it. List and inspect show both kinds (``Scope: swarm`` for these), everything
else goes to the local networks service. The data plane (VXLAN, attaching tasks and
containers) is phase 2: tasks still run on the default bridge.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

from berthd.daemon.cluster.ids import new_id
from berthd.daemon.cluster.objects import EventLog
from berthd.daemon.cluster.specs import rpc_error
from berthd.daemon.cluster.store import ObjectStore
from berthd.daemon.networks import NetworksService
from berthd.errdefs import Conflict, Forbidden, InvalidParameter, NotFound, Unavailable
from berthd.lib.filters import FilterArgs
from berthd.lib.timefmt import format_ns, now_ns

__all__ = ["SwarmNetworks", "ingress_network"]

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
_VXLAN_START = 4096


def _network(
    name: str, subnet: ipaddress.IPv4Network, vni: int, body: dict[str, Any]
) -> dict[str, Any]:
    gateway = str(next(subnet.hosts()))
    options = dict(body.get("Options") or {})
    options["com.docker.network.driver.overlay.vxlanid_list"] = str(vni)
    return {
        "Name": name,
        "Id": new_id(),
        "Created": format_ns(now_ns()),
        "Scope": "swarm",
        "Driver": "overlay",
        "EnableIPv6": bool(body.get("EnableIPv6")),
        "IPAM": {
            "Driver": "default",
            "Options": None,
            "Config": [{"Subnet": str(subnet), "Gateway": gateway}],
        },
        "Internal": bool(body.get("Internal")),
        "Attachable": bool(body.get("Attachable")),
        "Ingress": bool(body.get("Ingress")),
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": None,
        "Options": options,
        "Labels": dict(body.get("Labels") or {}),
    }


def ingress_network(pools: list[str] | None, size: int) -> dict[str, Any]:
    """The routing mesh's network, made at ``swarm init``: the pool's first subnet."""
    pool = ipaddress.ip_network((pools or ["10.0.0.0/8"])[0], strict=False)
    subnet = next(pool.subnets(new_prefix=size or 24))
    assert isinstance(subnet, ipaddress.IPv4Network)
    return _network("ingress", subnet, _VXLAN_START, {"Ingress": True})


def _matches(net: dict[str, Any], f: FilterArgs) -> bool:
    return (
        f.fuzzy_match("id", net["Id"])
        and f.match("name", net["Name"])
        and f.exact_match("driver", net["Driver"])
        and f.exact_match("scope", net["Scope"])
        and f.match_kv_list("label", net["Labels"])
        and f.exact_match("type", "custom")
    )


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
        return local + [n for n in await self._all() if _matches(n, filters)]

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
        subnet = _subnet(body, cluster, nets)
        vni = max((_vni(n) for n in nets), default=_VXLAN_START) + 1
        net = _network(name, subnet, vni, body)
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


def _vni(net: dict[str, Any]) -> int:
    raw = (net.get("Options") or {}).get("com.docker.network.driver.overlay.vxlanid_list", "0")
    try:
        return int(str(raw).split(",")[0])
    except ValueError:
        return 0


def _subnet(
    body: dict[str, Any], cluster: dict[str, Any], nets: list[dict[str, Any]]
) -> ipaddress.IPv4Network:
    """The subnet asked for, or the first free block of the swarm's pools."""
    used = [
        ipaddress.ip_network(c["Subnet"], strict=False)
        for n in nets
        for c in (n.get("IPAM") or {}).get("Config") or []
        if c.get("Subnet")
    ]
    asked = [c for c in ((body.get("IPAM") or {}).get("Config") or []) if c.get("Subnet")]
    if asked:
        try:
            subnet = ipaddress.ip_network(asked[0]["Subnet"], strict=False)
        except ValueError:
            raise InvalidParameter(f"invalid subnet {asked[0]['Subnet']}") from None
        if not isinstance(subnet, ipaddress.IPv4Network):
            raise InvalidParameter("IPv6 overlay networks are not supported by berthd yet")
        if any(subnet.overlaps(u) for u in used):
            raise rpc_error(
                InvalidParameter,
                "invalid pool request: Pool overlaps with other one on this address space",
            )
        return subnet
    size = int(cluster.get("SubnetSize") or 24)
    for raw in cluster.get("DefaultAddrPool") or ["10.0.0.0/8"]:
        pool = ipaddress.ip_network(raw, strict=False)
        for candidate in pool.subnets(new_prefix=size):
            if isinstance(candidate, ipaddress.IPv4Network) and not any(
                candidate.overlaps(u) for u in used
            ):
                return candidate
    raise rpc_error(Unavailable, "could not find an available, non-overlapping IPv4 address pool")
