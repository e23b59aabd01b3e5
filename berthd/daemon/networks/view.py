"""The network object of the API (inspect and list) and ``docker network ls`` filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from berthd.lib.filters import FilterArgs
from berthd.network import Endpoint, Network

__all__ = ["LIST_FILTERS", "matches", "network_view"]

LIST_FILTERS = ("dangling", "driver", "id", "label", "name", "scope", "type")


def _prefix_len(subnet: str) -> str:
    return subnet.partition("/")[2]


def network_view(
    net: Network,
    endpoints: list[Endpoint] | None,
    container_name: Callable[[str], str],
) -> dict[str, Any]:
    """dockerd's NetworkResource; ``endpoints`` None leaves Containers empty (list)."""
    ipam_config: list[dict[str, Any]] = []
    for subnet, gateway, ip_range, aux in (
        (net.subnet, net.gateway if net.show_gateway else "", net.ip_range, net.aux),
        (net.subnet6, net.gateway6 if net.show_gateway6 else "", net.ip_range6, net.aux6),
    ):
        if not subnet:
            continue
        cfg: dict[str, Any] = {"Subnet": subnet}
        if ip_range:
            cfg["IPRange"] = ip_range
        if gateway:
            cfg["Gateway"] = gateway
        if aux:
            cfg["AuxiliaryAddresses"] = dict(aux)
        ipam_config.append(cfg)
    containers: dict[str, Any] = {}
    for ep in endpoints or []:
        containers[ep.container_id] = {
            "Name": container_name(ep.container_id),
            "EndpointID": ep.endpoint_id,
            "MacAddress": ep.mac,
            "IPv4Address": f"{ep.ip}/{_prefix_len(net.subnet)}",
            "IPv6Address": f"{ep.ip6}/{_prefix_len(net.subnet6)}" if ep.ip6 else "",
        }
    return {
        "Name": net.name,
        "Id": net.id,
        "Created": net.created,
        "Scope": "local",
        "Driver": net.driver,
        "EnableIPv4": True,
        "EnableIPv6": net.enable_ipv6,
        "IPAM": {
            "Driver": "default",
            "Options": None if net.ipam_options is None else dict(net.ipam_options),
            "Config": ipam_config,
        },
        "Internal": net.internal,
        "Attachable": net.attachable,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(net.options),
        "Labels": dict(net.labels),
    }


def matches(f: FilterArgs, net: Network, in_use: bool) -> bool:
    if f.contains("driver") and not f.exact_match("driver", net.driver):
        return False
    if f.contains("name") and not f.match("name", net.name):
        return False
    if f.contains("id") and not f.match("id", net.id):
        return False
    if f.contains("label") and not f.match_kv_list("label", net.labels):
        return False
    if f.contains("scope") and not f.exact_match("scope", "local"):
        return False
    if f.contains("type"):
        kind = "builtin" if net.predefined else "custom"
        if not f.exact_match("type", kind):
            return False
    if f.contains("dangling"):
        dangling = f.get_bool_or_default("dangling", False)
        if dangling == (in_use or net.predefined):
            return False
    return True
