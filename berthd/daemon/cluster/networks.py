"""Overlay networks as swarm objects: their documents, subnets and VXLAN IDs.

``daemon/swarm_networks.py`` puts them beside the node's local networks: ``-d overlay``
creates go to the swarm (etcd key ``networks/<id>``, name unique among swarm networks and not
taken by a local one), with a subnet allocated from the swarm's ``DefaultAddrPool``
(10.0.0.0/8 when none was given) in ``SubnetSize`` blocks and a VXLAN ID from 4097;
``ingress`` is made at ``swarm init`` (10.0.0.0/24 of the default pool), as dockerd
makes it. List and inspect show both kinds (``Scope: swarm`` for these), everything
else goes to the local networks service. The data plane (VXLAN, attaching tasks and
containers) is phase 2: tasks still run on the default bridge.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from berthd.daemon.cluster.ids import new_id
from berthd.daemon.cluster.specs import rpc_error
from berthd.errdefs import InvalidParameter, Unavailable
from berthd.lib.filters import FilterArgs
from berthd.lib.timefmt import format_ns, now_ns

__all__ = [
    "NOT_A_MANAGER",
    "VXLAN_START",
    "allocate_subnet",
    "ingress_network",
    "network_matches",
    "new_network",
    "vxlan_id",
]

NOT_A_MANAGER = (
    'This node is not a swarm manager. Use "docker swarm init" or "docker swarm join" '
    "to connect this node to swarm and try again."
)
VXLAN_START = 4096


def new_network(
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
    return new_network("ingress", subnet, VXLAN_START, {"Ingress": True})


def network_matches(net: dict[str, Any], f: FilterArgs) -> bool:
    return (
        f.fuzzy_match("id", net["Id"])
        and f.match("name", net["Name"])
        and f.exact_match("driver", net["Driver"])
        and f.exact_match("scope", net["Scope"])
        and f.match_kv_list("label", net["Labels"])
        and f.exact_match("type", "custom")
    )


def vxlan_id(net: dict[str, Any]) -> int:
    raw = (net.get("Options") or {}).get("com.docker.network.driver.overlay.vxlanid_list", "0")
    try:
        return int(str(raw).split(",")[0])
    except ValueError:
        return 0


def allocate_subnet(
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
