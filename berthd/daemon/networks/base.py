"""State shared by the network service's parts: the store, the driver, lookups.

The service depends on the container service only through ``ContainerLookup``
(find a container by reference, persist it), so the two can be built in either
order by the composition root.
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
from berthd.network.ip6_loopback import add_loopback_exclusions, remove_loopback_exclusions
from berthd.network.link_dns import LinkResolvers
from berthd.network.netavark import Attachment, PortMapping
from berthd.network.userland_proxy import ProxyBinding, UserlandProxies

__all__ = ["BridgeSettings", "ContainerLookup", "NetworksBase", "new_id", "now_rfc3339"]


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


class NetworksBase:
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
        self._networks: dict[str, Network] = {}
        self.proxies = UserlandProxies()  # published ports on IPv6 host addresses
        self._loopback_rules: set[str] = set()  # containers with ip6_loopback rules
        self.link_resolvers = LinkResolvers()  # containers with links on user networks
        # teardowns run in the background (netavark's teardown is the slow half:
        # ~250 ms on nftables), so a container's exit is not held up by it;
        # anything that needs the result waits for them
        self._teardowns: dict[str, asyncio.Task[None]] = {}

    async def wait_teardown(self, cid: str) -> None:
        task = self._teardowns.get(cid)
        if task is not None:
            await asyncio.wait([task])

    async def wait_all_teardowns(self) -> None:
        tasks = list(self._teardowns.values())
        if tasks:
            await asyncio.wait(tasks)

    # -- lookups ------------------------------------------------------------------------
    def lookup(self, ref: str) -> Network:
        """By full ID, then name, then unique ID prefix (dockerd's order)."""
        if ref in self._networks:
            return self._networks[ref]
        for net in self._networks.values():
            if net.name == ref:
                return net
        found = [n for n in self._networks.values() if n.id.startswith(ref)] if ref else []
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
            net = self._networks.get(ep.network_id)
            if net is None:
                continue
            ports = [PortMapping(**p) for p in ep.ports]
            out.append(Attachment(net, ep, ports))
        return out

    async def start_proxies(
        self, cid: str, attachments: list[Attachment], endpoint_desc: str = ""
    ) -> None:
        """The userland proxies of a container's IPv6 host bindings (to its IPv6
        address on the network, else its IPv4 one, as dockerd's proxy)."""
        bindings = [
            ProxyBinding(
                p.host_ip,
                p.host_port + i,
                a.endpoint.ip6 or a.endpoint.ip,
                p.container_port + i,
                p.protocol,
            )
            for a in attachments
            for p in a.port_mappings
            if ":" in p.host_ip
            for i in range(p.range)
        ]
        if bindings:
            try:
                await self.proxies.start(cid, bindings)
            except errdefs.System as e:
                desc = endpoint_desc or cid[:12]
                raise errdefs.System(
                    f"driver failed programming external connectivity on endpoint {desc}: {e}"
                ) from None
        # netavark's IPv6 DNAT of default bindings must leave [::1] to the proxy
        loopback = [
            (p.host_port, p.range, p.protocol)
            for a in attachments
            if a.network.ipv6
            for p in a.port_mappings
            if not p.host_ip
        ]
        if loopback:
            await add_loopback_exclusions(cid, loopback)
            self._loopback_rules.add(cid)

    async def stop_proxies(self, cid: str) -> None:
        """Stop what the daemon runs for a container: port proxies, link resolver."""
        self.link_resolvers.stop(cid)
        await self.proxies.stop(cid)
        if cid in self._loopback_rules:
            self._loopback_rules.discard(cid)
            await remove_loopback_exclusions(cid)

    def allocated_ports(self) -> set[tuple[str, int, str]]:
        return {
            (str(p["host_ip"] or "0.0.0.0"), int(p["host_port"]), str(p["protocol"]))
            for ep in self.store.endpoints()
            for p in ep.ports
        }
