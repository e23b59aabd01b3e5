"""What the daemon runs for a container's IPv6 host bindings: the userland port
proxies, and the rules that leave [::1] to them.

Owns both; the attacher starts them at setup and stops them at teardown, the
service restarts them at start-up for containers that kept running.
"""

from __future__ import annotations

from berthd import errdefs
from berthd.network.ip6_loopback import add_loopback_exclusions, remove_loopback_exclusions
from berthd.network.netavark import Attachment
from berthd.network.userland_proxy import ProxyBinding, UserlandProxies

__all__ = ["HostProxies"]


class HostProxies:
    def __init__(self) -> None:
        self._proxies = UserlandProxies()
        self._loopback_rules: set[str] = set()  # containers with ip6_loopback rules

    def with_loopback_rules(self) -> list[str]:
        return list(self._loopback_rules)

    async def start(self, cid: str, attachments: list[Attachment], endpoint_desc: str = "") -> None:
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
                await self._proxies.start(cid, bindings)
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

    async def stop(self, cid: str) -> None:
        await self._proxies.stop(cid)
        if cid in self._loopback_rules:
            self._loopback_rules.discard(cid)
            await remove_loopback_exclusions(cid)

    async def stop_all(self) -> None:
        """The proxies (the loopback rules of running containers stay with them)."""
        await self._proxies.stop_all()
