"""The ``NetworkAttacher`` the container service calls: prepare, setup, teardown, release.

Addresses are held while a container runs (allocated at start, freed when it
stops), as in dockerd; the endpoints the container *wants* live in its
``NetworkSettings.Networks``, which the container service persists. netavark
is called once per start with every network, so a start costs one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from typing import Any

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.hooks import NetworkSetup, endpoint_settings
from berthd.daemon.containers.links import parse_link
from berthd.daemon.networks.endpoint_ipam import check_endpoint_ipam
from berthd.daemon.networks.files import (
    copy_files,
    write_host_mode_files,
    write_hosts,
    write_resolv,
)
from berthd.daemon.networks.link_dns import LinkDns
from berthd.daemon.networks.proxies import HostProxies
from berthd.daemon.networks.state import NetworkState, mac_for
from berthd.network import Endpoint, Network
from berthd.network.embedded_dns import EMBEDDED_DNS, redirect_embedded_dns
from berthd.network.netavark import Attachment
from berthd.network.ports import inspect_ports, plan_ports

__all__ = ["Attacher"]

log = logging.getLogger("berthd.network")


def _mode(c: Container) -> str:
    return str(c.host_config.get("NetworkMode") or "bridge")


class Attacher:
    """Owns the pending teardowns; shares the networks' state, the proxies and the
    link resolvers with the service that built it."""

    def __init__(self, state: NetworkState, proxies: HostProxies, link_dns: LinkDns) -> None:
        self._state = state
        self._proxies = proxies
        self._link_dns = link_dns
        # teardowns run in the background (netavark's teardown is the slow half:
        # ~250 ms on nftables), so a container's exit is not held up by it;
        # anything that needs the result waits for them
        self._teardowns: dict[str, asyncio.Task[None]] = {}

    def tearing_down(self, cid: str) -> bool:
        return cid in self._teardowns

    async def wait_teardown(self, cid: str) -> None:
        task = self._teardowns.get(cid)
        if task is not None:
            await asyncio.wait([task])

    async def wait_all_teardowns(self) -> None:
        tasks = list(self._teardowns.values())
        if tasks:
            await asyncio.wait(tasks)

    async def stop_daemon_side(self, cid: str) -> None:
        """Stop what the daemon runs for a container: port proxies, link resolver."""
        self._link_dns.stop(cid)
        await self._proxies.stop(cid)

    # -- create ------------------------------------------------------------------------
    async def prepare(self, c: Container, networking_config: dict[str, Any]) -> None:
        mode = _mode(c)
        wanted: dict[str, Any] = dict((networking_config or {}).get("EndpointsConfig") or {})
        nets: dict[str, Any] = {}
        if mode.startswith("container:"):
            self._state.container(mode.partition(":")[2])
        elif mode in ("host", "none"):
            es = endpoint_settings()
            es["NetworkID"] = self._state.lookup(mode).id
            nets[mode] = es
        else:
            primary = self._state.lookup("bridge" if mode == "default" else mode)
            cfg: dict[str, Any] = {}
            for key in (primary.name, mode, primary.id, "default" if primary.default else ""):
                cfg = wanted.pop(key, None) or cfg
            nets[primary.name] = self.endpoint_config(primary, cfg, c)
            for ref, cfg in wanted.items():
                net = self._state.lookup(ref)
                if net.name not in nets:
                    nets[net.name] = self.endpoint_config(net, cfg or {}, c)
        c.network_settings["Networks"] = nets

    def endpoint_config(self, net: Network, cfg: dict[str, Any], c: Container) -> dict[str, Any]:
        """Check an EndpointSettings from the client; the record with nothing allocated."""
        if net.driver != "bridge":
            raise errdefs.Forbidden(
                "container cannot be disconnected from host network or connected to host network"
                if net.driver == "host"
                else f"container cannot be connected to network {net.name}"
            )
        ipam = cfg.get("IPAMConfig") or {}
        aliases = [str(a) for a in cfg.get("Aliases") or []]
        if net.default and (ipam.get("IPv4Address") or ipam.get("IPv6Address")):
            raise errdefs.InvalidParameter(
                "user specified IP address is supported on user defined networks only"
            )
        if net.default and aliases:
            raise errdefs.InvalidParameter(
                "network-scoped alias is supported only for containers in user defined networks"
            )
        check_endpoint_ipam(net, ipam)
        for link in cfg.get("Links") or []:
            parse_link(str(link))
        es = endpoint_settings()
        es.update(
            {
                "IPAMConfig": ipam or None,
                "Aliases": aliases or None,
                "Links": cfg.get("Links") or None,
                "MacAddress": str(cfg.get("MacAddress") or ""),
                "DriverOpts": cfg.get("DriverOpts") or None,
                "NetworkID": net.id,
            }
        )
        return es

    # -- start -------------------------------------------------------------------------
    async def setup(
        self, c: Container, extra_hosts: Sequence[tuple[str, str]] = ()
    ) -> NetworkSetup:
        mode = _mode(c)
        if mode == "host":
            await asyncio.to_thread(write_host_mode_files, c)
            self._log_endpoints(c, "connect")
            return NetworkSetup(None)
        if mode == "none":
            self._log_endpoints(c, "connect")
            return NetworkSetup(None)
        if mode.startswith("container:"):
            other = self._state.container(mode.partition(":")[2])
            if not other.state.running or not other.state.pid:
                raise errdefs.Conflict(
                    f"cannot join network of a non running container: {other.id}"
                )
            path = self._state.driver.netns_path(other.id)
            if not await asyncio.to_thread(os.path.ismount, path):
                path = f"/proc/{other.state.pid}/ns/net"
            await asyncio.to_thread(copy_files, other, c)
            return NetworkSetup(path)
        nets: dict[str, Any] = c.network_settings.get("Networks") or {}
        await self.wait_teardown(c.id)
        if c.host_config.get("PortBindings") or c.host_config.get("PublishAllPorts"):
            await self.wait_all_teardowns()  # ports being freed are free
        netns = await self._state.driver.create_netns(c.id)
        attachments: list[Attachment] = []
        try:
            async with self._state.lock:
                for i, (name, es) in enumerate(nets.items()):
                    net = self._state.lookup(str(es.get("NetworkID") or name))
                    attachments.append(await self.allocate(c, net, es, f"eth{i}", primary=i == 0))
            await self._state.driver.setup(netns, c.id, c.name.lstrip("/"), attachments)
            await self._proxies.start(c.id, attachments, f"{c.name.lstrip('/')} ({c.id[:12]})")
        except BaseException:
            await self._undo(c, netns, attachments)
            raise
        dns = next((a for a in attachments if a.network.dns), None)
        resolver = dns.network.gateway if dns is not None else ""
        if dns is not None:
            try:
                port = await self._link_dns.start(c, dns.endpoint, dns.network.gateway)
                await redirect_embedded_dns(netns, resolver, port)
                resolver = EMBEDDED_DNS
            except errdefs.BerthdError as e:
                log.warning("container %s: %s; using %s", c.short_id, e, resolver)
        self._log_endpoints(c, "connect")
        return NetworkSetup(
            netns, self._running_settings(c, netns, attachments, extra_hosts, resolver)
        )

    async def allocate(
        self, c: Container, net: Network, es: dict[str, Any], iface: str, primary: bool
    ) -> Attachment:
        ipam = es.get("IPAMConfig") or {}
        requested = str(ipam.get("IPv4Address") or "")
        requested6 = str(ipam.get("IPv6Address") or "") if net.ipv6 else ""
        # dockerd's DNSNames: the name, the aliases, the short ID, the hostname
        hostname = str(c.config.get("Hostname") or "")
        aliases = [c.name.lstrip("/"), *(es.get("Aliases") or []), c.id[:12]]
        if hostname:
            aliases.append(hostname)
        mac = str(es.get("MacAddress") or c.config.get("MacAddress") or "")
        ports = []
        if primary:
            exposed = list((c.config.get("ExposedPorts") or {}).keys())
            desc = f"{c.name.lstrip('/')} ({c.id[:12]})"
            allocated = await asyncio.to_thread(self._state.allocated_ports)
            ports = plan_ports(c.host_config, exposed, allocated, desc)

        def make(ip: str, ip6: str) -> Endpoint:
            return Endpoint(
                network_id=net.id,
                container_id=c.id,
                endpoint_id=os.urandom(32).hex(),
                ip=ip,
                ip6=ip6,
                link_local=[str(a) for a in ipam.get("LinkLocalIPs") or []],
                mac=mac or mac_for(ip),
                interface=iface,
                aliases=list(dict.fromkeys(str(a) for a in aliases)),
                static_ip=bool(requested),
                ports=[p.to_json() for p in ports],
            )

        ep = await asyncio.to_thread(self._state.store.allocate, net, requested, make, requested6)
        return Attachment(net, ep, ports)

    async def _undo(self, c: Container, netns: str, attachments: list[Attachment]) -> None:
        await self.stop_daemon_side(c.id)
        if attachments:
            with contextlib.suppress(errdefs.BerthdError):
                await self._state.driver.teardown(netns, c.id, c.name.lstrip("/"), attachments)
        for a in attachments:
            await asyncio.to_thread(self._state.store.release, a.network.id, c.id)
        await asyncio.to_thread(self._state.driver.remove_netns, c.id)

    def _running_settings(
        self,
        c: Container,
        netns: str,
        attachments: list[Attachment],
        extra_hosts: Sequence[tuple[str, str]] = (),
        resolver: str = "",
    ) -> dict[str, Any]:
        nets: dict[str, Any] = c.network_settings.get("Networks") or {}
        for a in attachments:
            nets[a.network.name] = self.endpoint_view(c, a, nets.get(a.network.name))
        exposed = list((c.config.get("ExposedPorts") or {}).keys())
        mappings = [p.to_json() for a in attachments for p in a.port_mappings]
        settings: dict[str, Any] = {
            "Networks": nets,
            "Ports": inspect_ports(exposed, mappings),
            "SandboxKey": netns,
            "SandboxID": c.id,
        }
        first = attachments[0] if attachments else None
        if first is not None and first.network.default:
            view = nets[first.network.name]
            settings.update(
                {
                    "Bridge": first.network.bridge,
                    "EndpointID": view["EndpointID"],
                    "Gateway": view["Gateway"],
                    "IPAddress": view["IPAddress"],
                    "IPPrefixLen": view["IPPrefixLen"],
                    "MacAddress": view["MacAddress"],
                    "IPv6Gateway": view["IPv6Gateway"],
                    "GlobalIPv6Address": view["GlobalIPv6Address"],
                    "GlobalIPv6PrefixLen": view["GlobalIPv6PrefixLen"],
                }
            )
        gw = first.network.gateway if first else ""
        write_hosts(c, first.endpoint.ip if first else "", gw, extra_hosts)
        write_resolv(c, resolver, self._state.settings.dns)
        return settings

    def endpoint_view(self, c: Container, a: Attachment, old: dict[str, Any] | None) -> Any:
        es = dict(old or endpoint_settings())
        es.update(
            {
                "NetworkID": a.network.id,
                "EndpointID": a.endpoint.endpoint_id,
                "Gateway": a.network.gateway,
                "IPAddress": a.endpoint.ip,
                "IPPrefixLen": int(a.network.subnet.partition("/")[2] or 0),
                "MacAddress": a.endpoint.mac,
                "DNSNames": a.endpoint.aliases if not a.network.default else None,
                "IPv6Gateway": a.network.gateway6 if a.endpoint.ip6 else "",
                "GlobalIPv6Address": a.endpoint.ip6,
                "GlobalIPv6PrefixLen": int(a.network.subnet6.partition("/")[2] or 0)
                if a.endpoint.ip6
                else 0,
            }
        )
        return es

    # -- stop and remove ---------------------------------------------------------------
    def _log_endpoints(self, c: Container, action: str) -> None:
        """dockerd's ``network connect``/``disconnect`` events as a container's
        endpoints join at start and leave at exit."""
        if _mode(c).startswith("container:"):
            return
        for name in c.network_settings.get("Networks") or {}:
            try:
                net = self._state.lookup(name)
            except errdefs.NotFound:
                continue
            self._state.events.log(
                "network", action, net.id, {"container": c.id, "name": net.name, "type": net.driver}
            )

    async def teardown(self, c: Container) -> None:
        """Forget the addresses now; undo the kernel side in a background task."""
        self._log_endpoints(c, "disconnect")
        self.clear_settings(c)
        await self.stop_daemon_side(c.id)
        await self.wait_teardown(c.id)
        task = asyncio.create_task(
            self._teardown_now(c.id, c.name.lstrip("/")), name=f"net-teardown-{c.short_id}"
        )
        self._teardowns[c.id] = task

        def done(t: asyncio.Task[None]) -> None:
            if self._teardowns.get(c.id) is t:
                del self._teardowns[c.id]

        task.add_done_callback(done)

    async def _teardown_now(self, cid: str, name: str) -> None:
        try:
            await self.stop_daemon_side(cid)
            eps = await asyncio.to_thread(self._state.store.container_endpoints, cid)
            if eps:
                try:
                    await self._state.driver.teardown(
                        self._state.driver.netns_path(cid), cid, name, self._state.attachments(eps)
                    )
                except errdefs.BerthdError as e:
                    log.warning("container %s: network teardown: %s", cid[:12], e)
                async with self._state.lock:
                    for ep in eps:
                        await asyncio.to_thread(self._state.store.release, ep.network_id, cid)
            await asyncio.to_thread(self._state.driver.remove_netns, cid)
        except Exception:
            log.exception("container %s: network teardown failed", cid[:12])

    def clear_settings(self, c: Container, only: str | None = None) -> None:
        """What inspect shows for a stopped container: no addresses, the choices kept."""
        for name, es in (c.network_settings.get("Networks") or {}).items():
            if only is not None and name != only:
                continue
            for key, empty in (
                ("EndpointID", ""),
                ("Gateway", ""),
                ("IPAddress", ""),
                ("IPPrefixLen", 0),
                ("DNSNames", None),
                ("IPv6Gateway", ""),
                ("GlobalIPv6Address", ""),
                ("GlobalIPv6PrefixLen", 0),
            ):
                es[key] = empty
            if not (es.get("IPAMConfig") or {}).get("IPv4Address"):
                es["MacAddress"] = ""
        if only is None:
            for key, empty in (
                ("Bridge", ""),
                ("EndpointID", ""),
                ("Gateway", ""),
                ("IPAddress", ""),
                ("IPPrefixLen", 0),
                ("MacAddress", ""),
                ("IPv6Gateway", ""),
                ("GlobalIPv6Address", ""),
                ("GlobalIPv6PrefixLen", 0),
                ("SandboxKey", ""),
                ("SandboxID", ""),
            ):
                c.network_settings[key] = empty
            c.network_settings["Ports"] = {}

    async def release(self, c: Container) -> None:
        if c.id in self._teardowns:
            return  # the pending teardown frees everything
        if await asyncio.to_thread(self._state.store.container_endpoints, c.id):
            await self._teardown_now(c.id, c.name.lstrip("/"))
