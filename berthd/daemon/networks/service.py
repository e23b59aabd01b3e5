"""NetworksService: the network API (create, ls, inspect, rm, prune, connect,
disconnect) and, through ``AttachMixin``, the container service's
``NetworkAttacher``.

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
from typing import Any

from berthd import errdefs
from berthd.daemon.networks.attach import AttachMixin
from berthd.daemon.networks.base import BridgeSettings, EventLog, new_id, now_rfc3339
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


class NetworksService(AttachMixin):
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
        nets = {n.name: n for n in self.store.networks()}
        for name, driver in (("host", "host"), ("none", "null")):
            if name not in nets:
                nets[name] = Network(new_id(), name, driver, now_rfc3339(), dns=False)
                self.store.put_network(nets[name])
        old = nets.get("bridge")
        want = self._default_bridge(old, [n for n in nets.values() if n.name != "bridge"])
        if old is None or old.to_json() != want.to_json():
            if old is not None and self.store.endpoints(old.id):
                log.warning("the bridge network has running containers; its settings stay")
            else:
                self.store.put_network(want)
                nets["bridge"] = want
        self._networks = {n.id: n for n in nets.values()}

    def _default_bridge(self, old: Network | None, others: list[Network]) -> Network:
        s = self.settings
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
        for ep in await asyncio.to_thread(self.store.endpoints):
            if ep.container_id in running:
                continue
            log.info("freeing %s on network %s (container gone)", ep.ip, ep.network_id[:12])
            if ep.ports:
                await remove_loopback_exclusions(ep.container_id)
            with contextlib.suppress(errdefs.BerthdError):
                await self.driver.teardown(
                    self.driver.netns_path(ep.container_id),
                    ep.container_id,
                    ep.container_id[:12],
                    self.attachments([ep]),
                )
            await asyncio.to_thread(self.store.release, ep.network_id, ep.container_id)
            await asyncio.to_thread(self.driver.remove_netns, ep.container_id)
        # the IPv6 port proxies of containers that kept running while berthd was down
        by_container: dict[str, list[Endpoint]] = {}
        for ep in await asyncio.to_thread(self.store.endpoints):
            by_container.setdefault(ep.container_id, []).append(ep)
        for cid, eps in by_container.items():
            try:
                await self.start_proxies(cid, self.attachments(eps))
                for ep in eps:
                    net = self._networks.get(ep.network_id)
                    if ep.dns_port and net is not None:
                        await self.restart_link_resolver(ep, net.gateway)
            except errdefs.BerthdError as e:
                log.warning("container %s: %s", cid[:12], e)
        # a teardown cut short by a crash may have freed the addresses but not the netns
        for cid in await asyncio.to_thread(self.driver.netns_ids):
            if cid not in running and cid not in self._teardowns:
                log.info("removing the network namespace of stopped container %s", cid[:12])
                await asyncio.to_thread(self.driver.remove_netns, cid)

    async def shutdown(self) -> None:
        """Drop netavark's shared chains if no container of any network uses them."""
        await self.wait_all_teardowns()
        for cid in list(self._loopback_rules):
            if not any(
                e.container_id == cid for e in await asyncio.to_thread(self.store.endpoints)
            ):
                await self.stop_proxies(cid)
        await self.proxies.stop_all()
        await self.link_resolvers.stop_all()
        # only a daemon that used netavark cleans up after it: the shared chains may
        # be another daemon's (they are removed only when empty in any case)
        if self.driver.used and not await asyncio.to_thread(self.store.endpoints):
            await remove_idle_netavark_chains()
        elif self.driver.used:
            await remove_empty_port_chains()
        await asyncio.to_thread(self.store.close)

    # -- API ---------------------------------------------------------------------------
    async def list_networks(self, filters: FilterArgs) -> list[dict[str, Any]]:
        filters.validate(LIST_FILTERS)
        eps = await asyncio.to_thread(self.store.endpoints)
        used = {e.network_id for e in eps}
        return [
            network_view(n, None, self.container_name)
            for n in sorted(self._networks.values(), key=lambda n: n.created)
            if matches(filters, n, n.id in used)
        ]

    async def inspect(self, ref: str) -> dict[str, Any]:
        net = self.lookup(ref)
        eps = await asyncio.to_thread(self.store.endpoints, net.id)
        return network_view(net, eps, self.container_name)

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
        mtu = int(opts.get("com.docker.network.driver.mtu") or self.settings.mtu or 0)
        async with self.lock:
            if any(n.name == name for n in self._networks.values()):
                raise errdefs.Conflict(f"network with name {name} already exists")
            existing = list(self._networks.values())
            routed = await asyncio.to_thread(host_networks) if not _v4_given(specs) else []
            plan = plan_ipam(
                specs, enable_ipv6, existing, self.settings.pools or DEFAULT_POOLS, routed
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
            await asyncio.to_thread(self.store.put_network, net)
            self._networks[nid] = net
        self.events.log("network", "create", nid, {"name": name, "type": "bridge"})
        return {"Id": nid, "Warning": ""}

    async def remove(self, ref: str) -> None:
        net = self.lookup(ref)
        if net.predefined:
            raise errdefs.Forbidden(f"{net.name} is a pre-defined network and cannot be removed")
        await self.wait_all_teardowns()  # `rm -f c && network rm n` must work
        async with self.lock:
            await asyncio.to_thread(self.store.delete_network, net)
            self._networks.pop(net.id, None)
        self.events.log("network", "destroy", net.id, {"name": net.name, "type": net.driver})

    async def prune(self, filters: FilterArgs) -> dict[str, Any]:
        filters.validate(("label", "label!", "until"))
        deleted = []
        for net in list(self._networks.values()):
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
        net = self.lookup(ref)
        c = self.container(str(body.get("Container") or ""))
        await self.wait_teardown(c.id)
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
            es = self.endpoint_config(net, dict(body.get("EndpointConfig") or {}), c)
            if c.state.running:
                used = {ep.interface for ep in self.store.container_endpoints(c.id)}
                iface = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
                async with self.lock:
                    a = await self._allocate(c, net, es, iface, primary=False)
                    try:
                        await self.driver.setup(
                            self.driver.netns_path(c.id), c.id, c.name.lstrip("/"), [a]
                        )
                    except BaseException:
                        await asyncio.to_thread(self.store.release, net.id, c.id)
                        raise
                es = self._endpoint_view(c, a, es)
            nets[net.name] = es
            await asyncio.to_thread(self.checkpoint, c)
            await self.follow_links(c)
        self.events.log(
            "network", "connect", net.id, {"container": c.id, "name": net.name, "type": net.driver}
        )

    async def disconnect(self, ref: str, body: dict[str, Any]) -> None:
        net = self.lookup(ref)
        c = self.container(str(body.get("Container") or ""))
        await self.wait_teardown(c.id)
        async with c.lock:
            nets: dict[str, Any] = c.network_settings.setdefault("Networks", {})
            if net.name not in nets:
                raise errdefs.Forbidden(f"container {c.id} is not connected to network {net.name}")
            if net.driver != "bridge":
                raise errdefs.Forbidden(
                    "container cannot be disconnected from host network or connected to host "
                    "network"
                )
            eps = [e for e in self.store.container_endpoints(c.id) if e.network_id == net.id]
            if eps:
                async with self.lock:
                    with contextlib.suppress(errdefs.BerthdError):
                        await self.driver.teardown(
                            self.driver.netns_path(c.id),
                            c.id,
                            c.name.lstrip("/"),
                            self.attachments(eps),
                        )
                    await asyncio.to_thread(self.store.release, net.id, c.id)
            del nets[net.name]
            if net.default:
                self.clear_settings(c)
                c.network_settings["Networks"] = nets
            await asyncio.to_thread(self.checkpoint, c)
            await self.follow_links(c)
        self.events.log(
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
