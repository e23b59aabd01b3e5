"""A container's link resolver: which links it has, where their targets are now.

A link on a user network (``--link b:bar`` at create, ``Links`` in an endpoint's
config at create or ``network connect``) makes ``bar`` resolve, for the linking
container alone, to what ``b`` resolves to on the networks they share, looked up at
each query (libnetwork's resolver turns the alias into the target's name and looks
that up in the network's records). So a target that starts after the linker, or
restarts with a new address, is found, and a stopped one is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from functools import partial

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.links import parse_link
from berthd.daemon.networks.state import NetworkState
from berthd.network import Endpoint
from berthd.network.embedded_dns import redirect_embedded_dns
from berthd.network.link_dns import LinkResolvers

__all__ = ["LinkDns", "link_targets"]

log = logging.getLogger("berthd.network")


def link_targets(c: Container) -> dict[str, str]:
    """Alias → target name of every link of ``c``: HostConfig.Links (stored as
    ``/b:/a/bar``) and the Links of each endpoint's config (``b:bar``)."""
    values = [str(v) for v in c.host_config.get("Links") or []]
    for es in (c.network_settings.get("Networks") or {}).values():
        values += [str(v) for v in (es or {}).get("Links") or []]
    out: dict[str, str] = {}
    for value in values:
        with contextlib.suppress(errdefs.InvalidParameter):  # checked at create/connect
            name, alias = parse_link(value)
            out[alias] = name
    return out


def _interface_number(ep: Endpoint) -> int:
    n = ep.interface.removeprefix("eth")
    return int(n) if n.isdigit() else 0


class LinkDns:
    """The link resolvers of containers with links on user networks (owned here)."""

    def __init__(self, state: NetworkState) -> None:
        self._state = state
        self._resolvers = LinkResolvers()

    def stop(self, cid: str) -> None:
        self._resolvers.stop(cid)

    async def stop_all(self) -> None:
        await self._resolvers.stop_all()

    async def link_address(self, cid: str, target: str) -> str | None:
        """The IPv4 address ``target`` (a DNS name: container name, alias, short ID,
        hostname) has now on one of the networks container ``cid`` is on."""
        return await asyncio.to_thread(self._link_address, cid, target)

    def _link_address(self, cid: str, target: str) -> str | None:
        name = target.lstrip("/").lower()
        with contextlib.suppress(ValueError):
            return str(ipaddress.IPv4Address(name))  # recorded by an older berthd
        for mine in self._state.store.container_endpoints(cid):
            for ep in self._state.store.endpoints(mine.network_id):
                if ep.ip and name in (a.lower() for a in ep.aliases):
                    return ep.ip
        return None

    async def start(self, c: Container, ep: Endpoint, gateway: str) -> int:
        """The UDP port 127.0.0.11 goes to: c's own resolver if it has links (recorded
        on ``ep``, for a daemon restarted under it), else aardvark's 53."""
        links = link_targets(c)
        if not links:
            return 53
        port = await self._resolvers.start(c.id, gateway, links, partial(self.link_address, c.id))
        ep.link_names, ep.dns_port = links, port
        await asyncio.to_thread(self._state.store.update_endpoint, ep)
        return port

    async def restart(self, ep: Endpoint, gateway: str) -> None:
        """At start-up, for a container that kept running: its resolver, same port."""
        await self._resolvers.start(
            ep.container_id,
            gateway,
            ep.link_names,
            partial(self.link_address, ep.container_id),
            ep.dns_port,
        )

    async def follow(self, c: Container) -> None:
        """After ``network connect``/``disconnect`` of a running container: its resolver
        answers the links it has now, and is started (and 127.0.0.11 re-pointed to it)
        if it had none."""
        if not c.state.running:
            return  # started with its links
        links = link_targets(c)
        eps = await asyncio.to_thread(self._state.store.container_endpoints, c.id)
        r = self._resolvers.get(c.id)
        if r is not None:
            r.set_links(links)
            for ep in eps:
                if self._state.lookup(ep.network_id).gateway == r.gateway:
                    ep.link_names, ep.dns_port = links, r.port
                    await asyncio.to_thread(self._state.store.update_endpoint, ep)
            return
        if not links:
            return
        eps.sort(key=_interface_number)
        for ep in eps:
            net = self._state.lookup(ep.network_id)
            if not net.dns:
                continue
            try:
                port = await self.start(c, ep, net.gateway)
                await redirect_embedded_dns(self._state.driver.netns_path(c.id), net.gateway, port)
            except errdefs.BerthdError as e:
                log.warning("container %s: %s; links not in DNS", c.short_id, e)
            return
