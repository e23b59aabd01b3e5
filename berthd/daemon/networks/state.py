"""What the network service's collaborators share: the store, the driver, the
known networks and the lock over allocation, with the lookups over them.

The service depends on the container service only through ``ContainerLookup``
(find a container by reference) and a checkpoint callable (persist it), so the two
can be built in either order by the composition root.
"""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from berthd import errdefs
from berthd.container import Container
from berthd.network import AddressPool, Endpoint, Netavark, Network, NetworkStore
from berthd.network.netavark import Attachment, PortMapping

__all__ = [
    "BridgeSettings",
    "ContainerLookup",
    "EventLog",
    "NetworkState",
    "mac_for",
    "new_id",
    "now_rfc3339",
]


class ContainerLookup(Protocol):
    def get(self, ref: str) -> Container: ...


class EventLog(Protocol):
    def log(
        self, type_: str, action: str, actor_id: str, attributes: dict[str, str] | None = None
    ) -> Any: ...


@dataclass(frozen=True)
class BridgeSettings:
    """The daemon options that shape the default bridge and new networks."""

    bridge: str = "berth0"
    bip: str = ""
    fixed_cidr: str = ""
    mtu: int = 0
    pools: tuple[AddressPool, ...] = ()
    dns: tuple[str, ...] = ()


def new_id() -> str:
    return secrets.token_hex(32)


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def mac_for(ip: str) -> str:
    """dockerd's MAC: 02:42 followed by the IPv4 address (stable, no clashes)."""
    packed = ipaddress.IPv4Address(ip).packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)


class NetworkState:
    """The networks by ID, the store and driver behind them, the allocation lock."""

    def __init__(
        self,
        store: NetworkStore,
        driver: Netavark,
        settings: BridgeSettings,
        events: EventLog,
    ) -> None:
        self.store = store
        self.driver = driver
        self.settings = settings
        self.events = events
        self.containers: ContainerLookup | None = None
        self.checkpoint: Callable[[Container], None] = lambda c: None
        self.lock = asyncio.Lock()  # address and port allocation, network create/remove
        self.networks: dict[str, Network] = {}

    def lookup(self, ref: str) -> Network:
        """By full ID, then name, then unique ID prefix (dockerd's order)."""
        if ref in self.networks:
            return self.networks[ref]
        for net in self.networks.values():
            if net.name == ref:
                return net
        found = [n for n in self.networks.values() if n.id.startswith(ref)] if ref else []
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise errdefs.InvalidParameter(
                f"network {ref} is ambiguous ({len(found)} matches found)"
            )
        raise errdefs.NotFound(f"network {ref} not found")

    def container(self, ref: str) -> Container:
        if self.containers is None:
            raise errdefs.Unavailable("containers are not available yet")
        return self.containers.get(ref)

    def container_name(self, cid: str) -> str:
        try:
            return self.container(cid).name.lstrip("/")
        except errdefs.BerthdError:
            return ""

    def attachments(self, eps: list[Endpoint]) -> list[Attachment]:
        out = []
        for ep in eps:
            net = self.networks.get(ep.network_id)
            if net is None:
                continue
            ports = [PortMapping(**p) for p in ep.ports]
            out.append(Attachment(net, ep, ports))
        return out

    def allocated_ports(self) -> set[tuple[str, int, str]]:
        return {
            (str(p["host_ip"] or "0.0.0.0"), int(p["host_port"]), str(p["protocol"]))
            for ep in self.store.endpoints()
            for p in ep.ports
        }
