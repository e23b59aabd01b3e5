"""NewDaemon: build every store in dependency order and own their cleanup.

The composition root of berthd. Each service receives only what it needs;
nothing looks anything up globally. ``Daemon.create`` registers the undoing of
each step on an ``AsyncExitStack`` as soon as the step is done: a failure midway
unwinds what was started, and ``Daemon.shutdown`` is that stack closing (the
reverse order of start-up).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import orjson

from berthd import errdefs
from berthd.config import DaemonConfig
from berthd.container import Container, ContainerStore
from berthd.daemon.build.service import BuildService
from berthd.daemon.cluster import Cluster
from berthd.daemon.cluster.containers import ContainerTaskRuntime
from berthd.daemon.components import Component, probe_components
from berthd.daemon.containers.fs import ContainerFSService
from berthd.daemon.containers.health import HealthMonitor, SupervisorProber
from berthd.daemon.containers.logrotate import LogRotator
from berthd.daemon.containers.service import ContainerService
from berthd.daemon.daemon_id import load_or_create_daemon_id
from berthd.daemon.events import EventsService
from berthd.daemon.hostinfo import HostInfo, read_host_info
from berthd.daemon.images import ImageService
from berthd.daemon.layout import backing_filesystem, prepare_layout
from berthd.daemon.networks import BridgeSettings, NetworksService
from berthd.daemon.probecache import ProbeCache
from berthd.daemon.runtimes import RuntimeSet, probe_runtimes
from berthd.daemon.swarm_networks import SwarmNetworks
from berthd.daemon.system import Counts, DiskUsage, StorageStatus, SystemService
from berthd.daemon.volumes import VolumesService
from berthd.layer import LayerStore, new_driver
from berthd.network import parse_pool
from berthd.registry.config import ServiceOptions
from berthd.registry.service import RegistryService
from berthd.runtime.cgroups import remove_cgroup
from berthd.runtime.conmon import ConmonSettings
from berthd.runtime.supervisor import Supervisor
from berthd.version import VERSION

__all__ = ["Daemon"]


def registry_options(cfg: DaemonConfig) -> ServiceOptions:
    return ServiceOptions(
        mirrors=cfg.registry_mirrors,
        insecure_registries=cfg.insecure_registries,
        certs_dir=cfg.registry_certs_dir,
        read_timeout=float(cfg.registry_read_timeout),
    )


def _remove_empty_cgroups(parent: str) -> None:
    """Remove the empty cgroups under ``parent`` (shutdown without live-restore)."""
    with contextlib.suppress(OSError, errdefs.BerthdError):
        remove_cgroup(parent)


log = logging.getLogger("berthd.daemon")


class Daemon:
    """The assembled daemon: configuration, stores and services."""

    def __init__(self, config: DaemonConfig, daemon_id: str, host: HostInfo) -> None:
        self._config = config
        self.id = daemon_id
        self.host = host
        self.events = EventsService()
        # swarm mode on a supervised etcd (issue 18); inactive until swarm init
        self.cluster = Cluster(
            config.data_root, self.node_description, self.events.log, config.exec_root
        )
        # set by create(), in dependency order
        self.layers: LayerStore
        self.images: ImageService
        self.runtimes: RuntimeSet
        self.volumes: VolumesService
        self.networks: NetworksService
        self.network_api: SwarmNetworks  # local networks + the swarm's overlay ones
        self.containers: ContainerService
        self.container_fs: ContainerFSService
        self.build: BuildService
        self.health: HealthMonitor
        self.log_rotator: LogRotator
        self.system: SystemService
        self.registry: RegistryService
        self._resources = contextlib.AsyncExitStack()

    @property
    def config(self) -> DaemonConfig:
        return self._config

    @classmethod
    async def create(cls, config: DaemonConfig) -> Daemon:
        await asyncio.to_thread(prepare_layout, config.data_root, config.exec_root)
        probes = await asyncio.to_thread(ProbeCache(config.exec_root).load)
        daemon_id, host, components, runtimes = await asyncio.gather(
            asyncio.to_thread(load_or_create_daemon_id, os.path.join(config.data_root, "trust")),
            asyncio.to_thread(read_host_info),
            probe_components(probes),
            probe_runtimes(config, probes),
        )
        await asyncio.to_thread(probes.save)
        daemon = cls(config, daemon_id, host)
        daemon.runtimes = runtimes
        async with daemon._resources as stack:
            await daemon._start(stack, components)
            daemon._resources = stack.pop_all()
        log.info("Daemon has completed initialization")
        return daemon

    async def _start(self, stack: contextlib.AsyncExitStack, components: list[Component]) -> None:
        """Build the services in dependency order; each pushes its own undoing."""
        daemon, config = self, self.config
        daemon.registry = await asyncio.to_thread(RegistryService, registry_options(config))
        stack.push_async_callback(daemon.registry.close)

        def open_stores() -> tuple[LayerStore, ImageService]:
            layers = LayerStore(
                config.data_root, new_driver(config.data_root, config.storage_driver)
            )
            return layers, ImageService(
                config.data_root, layers, daemon.events, config=lambda: daemon.config
            )

        # opened in parallel, and each run to its end (a thread cannot be stopped
        # midway): what opened is on the stack before the first failure is
        # raised, so a failed start-up closes it
        layers, volumes = await asyncio.gather(
            asyncio.to_thread(open_stores),
            VolumesService.open(config.data_root, daemon.events),
            return_exceptions=True,
        )
        if not isinstance(layers, BaseException):
            daemon.layers, daemon.images = layers
            stack.push_async_callback(daemon._release_layers)
        if not isinstance(volumes, BaseException):
            daemon.volumes = volumes
            stack.push_async_callback(volumes.shutdown)
        for result in (layers, volumes):
            if isinstance(result, BaseException):
                raise result
        supervisor = Supervisor(
            Path(config.exec_root),
            daemon.runtimes.runtimes,
            daemon.default_runtime() or "runc",
            ConmonSettings(cgroup=config.cgroup_parent.rstrip("/") + "/conmon"),
        )
        daemon.containers = ContainerService(
            config=lambda: daemon.config,
            store=ContainerStore(os.path.join(config.data_root, "containers")),
            layers=daemon.layers,
            images=daemon.images,
            supervisor=supervisor,
            events=daemon.events,
            driver_name=daemon.layers.driver.name,
            default_runtime=daemon.default_runtime,
            volumes=daemon.volumes,
        )
        daemon.images.containers_using = daemon.containers.image_users
        daemon.images.registry = daemon.registry
        daemon.container_fs = ContainerFSService(daemon.containers, daemon.images)
        daemon.health = daemon.new_health_monitor()
        daemon.containers.hooks.append(daemon.health)
        daemon.log_rotator = LogRotator(supervisor.reopen_log)
        daemon.containers.hooks.append(daemon.log_rotator)
        daemon.networks = await NetworksService.open(
            config.data_root,
            config.exec_root,
            BridgeSettings(
                bridge=config.bridge,
                bip=config.bip,
                fixed_cidr=config.fixed_cidr,
                mtu=config.mtu,
                pools=tuple(parse_pool(p) for p in config.default_address_pools),
                dns=config.dns,
            ),
            daemon.events,
            ip_forward=config.ip_forward,
        )
        stack.push_async_callback(daemon.networks.shutdown)
        daemon.networks.containers = daemon.containers
        daemon.networks.checkpoint = daemon.containers.store.checkpoint
        daemon.containers.network = daemon.networks
        # from here containers run: stop them (and their supervisor) first, after the
        # hooks' tasks that probe and rotate them
        stack.push_async_callback(daemon._stop_containers)
        stack.push_async_callback(daemon.log_rotator.close)
        stack.push_async_callback(daemon.health.close)
        await daemon.containers.load(config.live_restore)
        await daemon.networks.reconcile({c.id for c in daemon.containers.store if c.state.running})
        await daemon.containers.restart_by_policy(config.live_restore)
        daemon.build = BuildService(daemon.containers, daemon.images, config.data_root)
        await daemon.build.startup()
        stack.push_async_callback(daemon.build.shutdown)
        daemon.system = SystemService(
            config=lambda: daemon.config,
            daemon_id=daemon.id,
            host=daemon.host,
            events=daemon.events,
            components=components,
            storage=daemon.storage_status,
            default_runtime=daemon.default_runtime,
            counts=daemon.counts,
            disk_usage=daemon.disk_usage,
            plugins=lambda: {
                "Volume": daemon.volumes.driver_names(),
                "Network": ["bridge", "host", "null"],
                "Log": ["json-file", "local", "none"],
            },
            registry_config=lambda: daemon.registry.service_config().to_api(),
            swarm=daemon.cluster,
        )
        daemon.cluster.runtime = ContainerTaskRuntime(daemon.containers)
        daemon.network_api = SwarmNetworks(
            daemon.networks, daemon.cluster.swarm_store, daemon.events.log
        )
        await daemon.cluster.start()
        # before the containers stop: the swarm agent must not replace their tasks
        stack.push_async_callback(daemon.cluster.shutdown)
        stack.callback(daemon.events.close)  # first at shutdown: subscribers are let go

    def node_description(self) -> dict[str, Any]:
        """A swarm node's ``Description``: this host and engine, as dockerd reports them."""
        h, cfg = self.host, self.config
        plugins = [("Log", "json-file"), ("Log", "local"), ("Log", "none")]
        plugins += [("Network", n) for n in ("bridge", "host", "null")]
        plugins += [("Volume", "local")]
        engine: dict[str, Any] = {
            "EngineVersion": VERSION,
            "Plugins": [{"Type": t, "Name": n} for t, n in plugins],
        }
        labels = dict(label.partition("=")[::2] for label in cfg.labels)
        if labels:
            engine["Labels"] = labels
        return {
            "Hostname": h.hostname,
            "Platform": {"Architecture": h.architecture, "OS": "linux"},
            "Resources": {"NanoCPUs": h.ncpu * 1_000_000_000, "MemoryBytes": h.mem_total},
            "Engine": engine,
        }

    def new_health_monitor(self) -> HealthMonitor:
        """Probes through the container service; health checkpointed while running."""
        store = self.containers.store

        def checkpoint(c: Container) -> None:
            if store.try_get(c.id) is c and c.state.running:
                store.checkpoint(c)

        prober = SupervisorProber(self.containers)
        return HealthMonitor(prober, self.containers.log_event, checkpoint)

    def storage_status(self) -> StorageStatus:
        cfg = self.config
        driver = self.layers.driver.name
        status = [["Backing Filesystem", backing_filesystem(cfg.data_root)]]
        if driver == "overlay2":
            status += [
                ["Supports d_type", "true"],
                ["Using metacopy", "false"],
                ["Native Overlay Diff", "true"],
                ["userxattr", "false"],
            ]
        return StorageStatus(driver=driver, status=status)

    def default_runtime(self) -> str:
        return self.runtimes.default(self.config)

    async def disk_usage(self, types: list[str]) -> DiskUsage:
        usage = DiskUsage()
        if not types or "image" in types:
            usage.layers_size, usage.images = await self.images.disk_usage()
        if not types or "volume" in types:
            usage.volumes = await self.volumes.disk_usage()
        if not types or "container" in types:
            usage.containers = await self.container_fs.disk_usage()
        return usage

    async def counts(self) -> Counts:
        c = Counts(images=await self.images.count())
        for ctr in self.containers.store:
            c.containers += 1
            if ctr.state.paused:
                c.paused += 1
            elif ctr.state.running:
                c.running += 1
            else:
                c.stopped += 1
        return c

    def reload(self, new: DaemonConfig, applied: list[str]) -> None:
        """Swap in a reloaded configuration and announce it (``daemon reload``)."""
        self.registry.reload(registry_options(new))
        self._config = new
        self.runtimes.apply_config(new)
        self.events.log("daemon", "reload", self.id, self.reload_attributes())
        log.info("Reloaded configuration: %s", ", ".join(applied) or "(no reloadable keys)")

    def reload_attributes(self) -> dict[str, str]:
        cfg = self.config
        runtimes: dict[str, Any] = {n: s.to_api() for n, s in cfg.runtimes.items()}
        return {
            "debug": "true" if cfg.debug else "false",
            "default-runtime": self.default_runtime(),
            "labels": orjson.dumps(list(cfg.labels)).decode(),
            "live-restore": "true" if cfg.live_restore else "false",
            "log-level": cfg.log_level,
            "runtimes": orjson.dumps(runtimes).decode(),
            "shutdown-timeout": str(cfg.shutdown_timeout),
            "name": self.host.hostname,
            "insecure-registries": orjson.dumps(list(cfg.insecure_registries)).decode(),
            "registry-mirrors": orjson.dumps(list(cfg.registry_mirrors)).decode(),
            "max-concurrent-downloads": str(cfg.max_concurrent_downloads),
            "max-concurrent-uploads": str(cfg.max_concurrent_uploads),
            "max-download-attempts": str(cfg.max_download_attempts),
        }

    async def _stop_containers(self) -> None:
        """The shutdown policy (live-restore, shutdown-timeout) as configured now."""
        cfg = self.config
        await self.containers.shutdown(cfg.live_restore, cfg.shutdown_timeout)

    async def _release_layers(self) -> None:
        cfg = self.config
        if not cfg.live_restore:
            await asyncio.to_thread(self.layers.cleanup)
            await asyncio.to_thread(_remove_empty_cgroups, cfg.cgroup_parent)

    async def shutdown(self) -> None:
        """Stop the daemon's services, in the reverse order of start-up; containers
        get the shutdown policy."""
        await self._resources.aclose()
        log.info("Daemon shutdown complete")
