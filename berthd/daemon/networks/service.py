"""NetworksService: the network API (create, ls, inspect, rm, prune, connect,
disconnect) and the container service's ``NetworkAttacher``, a facade over its
collaborators: ``NetworkState`` (store, driver, networks, lock), ``Attacher``
(prepare/setup/teardown/release), ``HostProxies`` and ``LinkDns``, built here and
given what they use.

At start it makes sure the predefined networks exist — ``bridge`` (shaped by
the daemon's bridge/bip/fixed-cidr/mtu options), ``host`` and ``none`` — and
forgets addresses held by containers that no longer run (a reboot empties
/run and kills them without a teardown).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.hooks import NetworkSetup
from berthd.daemon.networks.attach import Attacher
from berthd.daemon.networks.link_dns import LinkDns
from berthd.daemon.networks.proxies import HostProxies
from berthd.daemon.networks.state import (
    BridgeSettings,
    ContainerLookup,
    EventLog,
    NetworkState,
    new_id,
    now_rfc3339,
)
from berthd.daemon.networks.view import LIST_FILTERS, matches, network_view
from berthd.lib.filters import FilterArgs
from berthd.lib.strconv import is_space
from berthd.network import (
    Endpoint,
    Netavark,
    NetavarkSettings,
    Network,
    NetworkStore,
    choose_subnet,
)
from berthd.network.host_routes import host_networks
from berthd.network.ip6_loopback import remove_loopback_exclusions
from berthd.network.ipam import DEFAULT_POOLS
from berthd.network.ipam_request import (
    PoolSpec,
    check_bridge_conflicts,
    plan_ipam,
    validate_ipam,
)
from berthd.network.iptables import remove_empty_port_chains, remove_idle_netavark_chains

__all__ = ["NetworksService"]

log = logging.getLogger("berthd.network")

_BRIDGE_OPTS = {
    "com.docker.network.bridge.default_bridge": "true",
    "com.docker.network.bridge.enable_icc": "true",
    "com.docker.network.bridge.enable_ip_masquerade": "true",
    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
}

# driver options netavark cannot turn off
_FIXED_TRUE_OPTS = (
    "com.docker.network.bridge.enable_icc",
    "com.docker.network.bridge.enable_ip_masquerade",
)


class NetworksService:
    def __init__(
        self,
        store: NetworkStore,
        driver: Netavark,
        settings: BridgeSettings,
        events: EventLog,
    ) -> None:
        self._state = NetworkState(store, driver, settings, events)
        self._proxies = HostProxies()
        self._link_dns = LinkDns(self._state)
        self._attacher = Attacher(self._state, self._proxies, self._link_dns)

    @property
    def store(self) -> NetworkStore:
        return self._state.store

    @property
    def containers(self) -> ContainerLookup | None:
        return self._state.containers

    @containers.setter
    def containers(self, lookup: ContainerLookup) -> None:
        self._state.containers = lookup

    @property
    def checkpoint(self) -> Callable[[Container], None]:
        return self._state.checkpoint

    @checkpoint.setter
    def checkpoint(self, fn: Callable[[Container], None]) -> None:
        self._state.checkpoint = fn

    # -- the container service's NetworkAttacher -----------------------------------------
    async def prepare(self, c: Container, networking_config: dict[str, Any]) -> None:
        await self._attacher.prepare(c, networking_config)

    async def setup(
        self, c: Container, extra_hosts: Sequence[tuple[str, str]] = ()
    ) -> NetworkSetup:
        return await self._attacher.setup(c, extra_hosts)

    async def teardown(self, c: Container) -> None:
        await self._attacher.teardown(c)

    async def release(self, c: Container) -> None:
        await self._attacher.release(c)

    @classmethod
    async def open(
        cls,
        data_root: str,
        exec_root: str,
        settings: BridgeSettings,
        events: EventLog,
        ip_forward: bool = True,
    ) -> NetworksService:
        def build() -> NetworksService:
            store = NetworkStore(os.path.join(data_root, "network"))
            driver = Netavark(
                NetavarkSettings(
                    run_dir=os.path.join(exec_root, "network"),
                    ip_forward=ip_forward,
                    upstream_dns=settings.dns,
                )
            )
            svc = cls(store, driver, settings, events)
            svc._load()
            return svc

        return await asyncio.to_thread(build)

    def _load(self) -> None:
        """Blocking: read the networks and create or update the predefined ones."""
        nets = {n.name: n for n in self._state.store.networks()}
        for name, driver in (("host", "host"), ("none", "null")):
            if name not in nets:
                nets[name] = Network(new_id(), name, driver, now_rfc3339(), dns=False)
                self._state.store.put_network(nets[name])
        old = nets.get("bridge")
        want = self._default_bridge(old, [n for n in nets.values() if n.name != "bridge"])
        if old is None or old.to_json() != want.to_json():
            if old is not None and self._state.store.endpoints(old.id):
                log.warning("the bridge network has running containers; its settings stay")
            else:
                self._state.store.put_network(want)
                nets["bridge"] = want
        self._state.networks = {n.id: n for n in nets.values()}

    def _default_bridge(self, old: Network | None, others: list[Network]) -> Network:
        s = self._state.settings
        if s.bip:
            iface = ipaddress.IPv4Interface(s.bip)
            subnet, gateway = str(iface.network), str(iface.ip)
        elif old is not None and old.subnet:
            subnet, gateway = old.subnet, old.gateway
        else:
            used = [ipaddress.IPv4Network(n.subnet) for n in others if n.subnet]
            net = choose_subnet(s.pools or DEFAULT_POOLS, used + host_networks())
            subnet, gateway = str(net), str(next(iter(net.hosts())))
        opts = {**_BRIDGE_OPTS, "com.docker.network.bridge.name": s.bridge}
        opts["com.docker.network.driver.mtu"] = str(s.mtu or 1500)
        return Network(
            id=old.id if old else new_id(),
            name="bridge",
            driver="bridge",
            created=old.created if old else now_rfc3339(),
            subnet=subnet,
            gateway=gateway,
            ip_range=s.fixed_cidr,
            bridge=s.bridge,
            dns=False,
            default=True,
            options=opts,
            mtu=s.mtu,
            last_ip=old.last_ip if old else "",
        )

    async def reconcile(self, running: set[str]) -> None:
        """After the containers are loaded: free what dead containers still hold."""
        for ep in await asyncio.to_thread(self._state.store.endpoints):
            if ep.container_id in running:
                continue
            log.info("freeing %s on network %s (container gone)", ep.ip, ep.network_id[:12])
            if ep.ports:
                await remove_loopback_exclusions(ep.container_id)
            with contextlib.suppress(errdefs.BerthdError):
                await self._state.driver.teardown(
                    self._state.driver.netns_path(ep.container_id),
                    ep.container_id,
                    ep.container_id[:12],
                    self._state.attachments([ep]),
                )
            await asyncio.to_thread(self._state.store.release, ep.network_id, ep.container_id)
            await asyncio.to_thread(self._state.driver.remove_netns, ep.container_id)
        # the IPv6 port proxies of containers that kept running while berthd was down
        by_container: dict[str, list[Endpoint]] = {}
        for ep in await asyncio.to_thread(self._state.store.endpoints):
            by_container.setdefault(ep.container_id, []).append(ep)
        for cid, eps in by_container.items():
            try:
                await self._proxies.start(cid, self._state.attachments(eps))
                for ep in eps:
                    net = self._state.networks.get(ep.network_id)
                    if ep.dns_port and net is not None:
                        await self._link_dns.restart(ep, net.gateway)
            except errdefs.BerthdError as e:
                log.warning("container %s: %s", cid[:12], e)
        # a teardown cut short by a crash may have freed the addresses but not the netns
        for cid in await asyncio.to_thread(self._state.driver.netns_ids):
            if cid not in running and not self._attacher.tearing_down(cid):
                log.info("removing the network namespace of stopped container %s", cid[:12])
                await asyncio.to_thread(self._state.driver.remove_netns, cid)

    async def shutdown(self) -> None:
        """Drop netavark's shared chains if no container of any network uses them."""
        await self._attacher.wait_all_teardowns()
        for cid in self._proxies.with_loopback_rules():
            if not any(
                e.container_id == cid for e in await asyncio.to_thread(self._state.store.endpoints)
            ):
                await self._attacher.stop_daemon_side(cid)
        await self._proxies.stop_all()
        await self._link_dns.stop_all()
        # the bridges no container uses any more (with live-restore, the others stay)
        used = {e.network_id for e in await asyncio.to_thread(self._state.store.endpoints)}
        for net in list(self._state.networks.values()):
            if net.bridge and net.id not in used:
                await self._state.driver.release(net)
        # only a daemon that used netavark cleans up after it: the shared chains may
        # be another daemon's (they are removed only when empty in any case)
        if self._state.driver.used and not await asyncio.to_thread(self._state.store.endpoints):
            await remove_idle_netavark_chains()
        elif self._state.driver.used:
            await remove_empty_port_chains()
        await asyncio.to_thread(self._state.store.close)

    # -- API ---------------------------------------------------------------------------
    async def list_networks(self, filters: FilterArgs) -> list[dict[str, Any]]:
        filters.validate(LIST_FILTERS)
        eps = await asyncio.to_thread(self._state.store.endpoints)
        used = {e.network_id for e in eps}
        return [
            network_view(n, None, self._state.container_name)
            for n in sorted(self._state.networks.values(), key=lambda n: n.created)
            if matches(filters, n, n.id in used)
        ]

    async def inspect(self, ref: str) -> dict[str, Any]:
        net = self._state.lookup(ref)
        eps = await asyncio.to_thread(self._state.store.endpoints, net.id)
        return network_view(net, eps, self._state.container_name)

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("Name") or "")
        if all(is_space(ch) for ch in name):  # libnetwork: TrimSpace(name) == ""
            raise errdefs.InvalidParameter(f"invalid name: {name}")
        driver = str(body.get("Driver") or "bridge")
        if driver != "bridge":
            if driver in ("host", "null"):
                raise errdefs.Forbidden(f'only one instance of "{driver}" network is allowed')
            raise errdefs.NotFound(f'plugin "{driver}" not found')
        if name in ("bridge", "host", "none"):
            raise errdefs.Forbidden(f"operation is not permitted on predefined {name} network ")
        enable_ipv6 = bool(body.get("EnableIPv6"))
        ipam = body.get("IPAM") or {}
        specs = [PoolSpec.from_api(c or {}) for c in ipam.get("Config") or []]
        validate_ipam(specs, enable_ipv6)
        opts = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        for key in _FIXED_TRUE_OPTS:
            if opts.get(key, "true").lower() in ("false", "0"):
                raise errdefs.InvalidParameter(
                    f"berthd: {key}={opts[key]} is not supported (netavark cannot do it)"
                )
        mtu = int(opts.get("com.docker.network.driver.mtu") or self._state.settings.mtu or 0)
        async with self._state.lock:
            if any(n.name == name for n in self._state.networks.values()):
                raise errdefs.Conflict(f"network with name {name} already exists")
            existing = list(self._state.networks.values())
            routed = await asyncio.to_thread(host_networks) if not _v4_given(specs) else []
            plan = plan_ipam(
                specs, enable_ipv6, existing, self._state.settings.pools or DEFAULT_POOLS, routed
            )
            nid = new_id()
            net = Network(
                id=nid,
                name=name,
                driver="bridge",
                created=now_rfc3339(),
                subnet=plan.subnet,
                gateway=plan.gateway,
                ip_range=plan.ip_range,
                bridge=opts.get("com.docker.network.bridge.name") or "br-" + nid[:12],
                internal=bool(body.get("Internal")),
                attachable=bool(body.get("Attachable")),
                dns=True,
                labels={str(k): str(v) for k, v in (body.get("Labels") or {}).items()},
                options=opts,
                ipam_options=_ipam_options(ipam.get("Options")),
                mtu=mtu,
                aux=plan.aux,
                show_gateway=plan.show_gateway,
                show_gateway6=plan.show_gateway6,
                user_subnet=plan.user_subnet,
                enable_ipv6=enable_ipv6,
                subnet6=plan.subnet6,
                gateway6=plan.gateway6,
                ip_range6=plan.ip_range6,
                aux6=plan.aux6,
            )
            check_bridge_conflicts(net, existing)
            await asyncio.to_thread(self._state.store.put_network, net)
            self._state.networks[nid] = net
        self._state.events.log("network", "create", nid, {"name": name, "type": "bridge"})
        return {"Id": nid, "Warning": ""}

    async def remove(self, ref: str) -> None:
        net = self._state.lookup(ref)
        if net.predefined:
            raise errdefs.Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        await self._attacher.wait_all_teardowns()  # `rm -f c && network rm n` must work
        if net.bridge and not await asyncio.to_thread(self._state.store.endpoints, net.id):
            await self._state.driver.release(net)
        async with self._state.lock:
            await asyncio.to_thread(self._state.store.delete_network, net)
            self._state.networks.pop(net.id, None)
        self._state.events.log("network", "destroy", net.id, {"name": net.name, "type": net.driver})

    async def prune(self, filters: FilterArgs) -> dict[str, Any]:
        filters.validate(("label", "label!", "until"))
        deleted = []
        for net in list(self._state.networks.values()):
            if net.predefined or not filters.match_kv_list("label", net.labels):
                continue
            if filters.contains("label!") and any(
                filters.match_kv_list("label!", {k: v}) for k, v in net.labels.items()
            ):
                continue
            try:
                await self.remove(net.id)
            except errdefs.BerthdError:
                continue
            deleted.append(net.name)
        return {"NetworksDeleted": deleted}

    async def connect(self, ref: str, body: dict[str, Any]) -> None:
        net = self._state.lookup(ref)
        c = self._state.container(str(body.get("Container") or ""))
        await self._attacher.wait_teardown(c.id)
        async with c.lock:
            nets: dict[str, Any] = c.network_settings.setdefault("Networks", {})
            mode = str(c.host_config.get("NetworkMode") or "")
            if mode in ("host", "none") or mode.startswith("container:"):
                raise errdefs.Forbidden(
                    "container sharing network namespace with another container or host "
                    "cannot be connected to any other network"
                    if mode != "none"
                    else "container cannot be connected to multiple networks with one of the "
                    "networks in private (none) mode"
                )
            if net.name in nets:
                raise errdefs.Forbidden(
                    f"endpoint with name {c.name.lstrip('/')} already exists in network {net.name}"
                )
            es = self._attacher.endpoint_config(net, dict(body.get("EndpointConfig") or {}), c)
            if c.state.running:
                used = {ep.interface for ep in self._state.store.container_endpoints(c.id)}
                iface = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
                async with self._state.lock:
                    a = await self._attacher.allocate(c, net, es, iface, primary=False)
                    try:
                        await self._state.driver.setup(
                            self._state.driver.netns_path(c.id), c.id, c.name.lstrip("/"), [a]
                        )
                    except BaseException:
                        await asyncio.to_thread(self._state.store.release, net.id, c.id)
                        raise
                es = self._attacher.endpoint_view(c, a, es)
            nets[net.name] = es
            await asyncio.to_thread(self._state.checkpoint, c)
            await self._link_dns.follow(c)
        self._state.events.log(
            "network", "connect", net.id, {"container": c.id, "name": net.name, "type": net.driver}
        )

    async def disconnect(self, ref: str, body: dict[str, Any]) -> None:
        net = self._state.lookup(ref)
        c = self._state.container(str(body.get("Container") or ""))
        await self._attacher.wait_teardown(c.id)
        async with c.lock:
            nets: dict[str, Any] = c.network_settings.setdefault("Networks", {})
            if net.name not in nets:
                raise errdefs.Forbidden(f"container {c.id} is not connected to network {net.name}")
            if net.driver != "bridge":
                raise errdefs.Forbidden(
                    "container cannot be disconnected from host network or connected to host "
                    "network"
                )
            eps = [e for e in self._state.store.container_endpoints(c.id) if e.network_id == net.id]
            if eps:
                async with self._state.lock:
                    with contextlib.suppress(errdefs.BerthdError):
                        await self._state.driver.teardown(
                            self._state.driver.netns_path(c.id),
                            c.id,
                            c.name.lstrip("/"),
                            self._state.attachments(eps),
                        )
                    await asyncio.to_thread(self._state.store.release, net.id, c.id)
            del nets[net.name]
            if net.default:
                self._attacher.clear_settings(c)
                c.network_settings["Networks"] = nets
            await asyncio.to_thread(self._state.checkpoint, c)
            await self._link_dns.follow(c)
        self._state.events.log(
            "network",
            "disconnect",
            net.id,
            {"container": c.id, "name": net.name, "type": net.driver},
        )


def _v4_given(specs: list[PoolSpec]) -> bool:
    return any(s.subnet and ":" not in s.subnet for s in specs)


def _ipam_options(raw: object) -> dict[str, str] | None:
    """IPAM.Options as dockerd keeps them: null when absent, else the map as sent."""
    if not isinstance(raw, dict):
        return None
    return {str(k): str(v) for k, v in raw.items()}
