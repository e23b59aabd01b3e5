"""SystemService: what the system routes ask of the daemon.

/version, /info, /_ping headers, /events and /system/df. Counts and sizes
come from the stores through small providers so that this module does not
grow with every store.
"""

from __future__ import annotations

import asyncio
import os
import platform
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from berthd.config import STOCK_RUNTIMES, DaemonConfig, parse_host
from berthd.daemon.cluster import InactiveCluster
from berthd.daemon.components import Component
from berthd.daemon.events import EventsService, Subscription
from berthd.daemon.hostinfo import HostInfo
from berthd.lib.filters import FilterArgs
from berthd.version import API_VERSION, GIT_COMMIT, MIN_API_VERSION, VERSION

__all__ = ["Counts", "DiskUsage", "SystemService", "go_arch"]

BUILD_TIME = "2026-11-23T00:00:00.000000000+00:00"

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def go_arch(machine: str) -> str:
    """Docker reports Go's architecture names."""
    return _GO_ARCH.get(machine, machine)


@dataclass
class Counts:
    containers: int = 0
    running: int = 0
    paused: int = 0
    stopped: int = 0
    images: int = 0


@dataclass
class DiskUsage:
    layers_size: int = 0
    images: list[dict[str, Any]] = field(default_factory=list)
    containers: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    build_cache: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StorageStatus:
    driver: str
    status: list[list[str]]


def _default_registry_config() -> dict[str, Any]:
    """What dockerd shows with no registry options (the daemon passes the real one)."""
    return {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        "IndexConfigs": {
            "docker.io": {"Name": "docker.io", "Mirrors": [], "Secure": True, "Official": True}
        },
        "Mirrors": None,
    }


class SwarmState(Protocol):
    """What /info and /_ping show of the node's swarm membership."""

    def status(self) -> str: ...

    def info(self) -> dict[str, Any]: ...


async def _no_counts() -> Counts:
    return Counts()


async def _no_usage(types: list[str]) -> DiskUsage:
    return DiskUsage()


class SystemService:
    def __init__(
        self,
        config: Callable[[], DaemonConfig],
        daemon_id: str,
        host: HostInfo,
        events: EventsService,
        components: list[Component],
        storage: Callable[[], StorageStatus],
        default_runtime: Callable[[], str],
        counts: Callable[[], Awaitable[Counts]] = _no_counts,
        disk_usage: Callable[[list[str]], Awaitable[DiskUsage]] = _no_usage,
        plugins: Callable[[], dict[str, list[str]]] | None = None,
        registry_config: Callable[[], Mapping[str, Any]] | None = None,
        swarm: SwarmState | None = None,
    ) -> None:
        self._config = config
        self.daemon_id = daemon_id
        self.host = host
        self.events = events
        self.components = components
        self._storage = storage
        self._default_runtime = default_runtime
        self._counts = counts
        self._disk_usage = disk_usage
        self._plugins = plugins or (lambda: {"Volume": [], "Network": [], "Log": []})
        self._registry_config = registry_config or _default_registry_config
        self._swarm = swarm or InactiveCluster()

    # -- /_ping ------------------------------------------------------------------
    def ping_headers(self) -> dict[str, str]:
        return {
            "Api-Version": API_VERSION,
            "Builder-Version": "1",
            "Docker-Experimental": "false",
            "Ostype": "linux",
            "Swarm": self._swarm.status(),
        }

    # -- /version ----------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        arch = go_arch(self.host.architecture)
        py = f"python{platform.python_version()}"
        engine = {
            "Name": "Engine",
            "Version": VERSION,
            "Details": {
                "ApiVersion": API_VERSION,
                "Arch": arch,
                "BuildTime": BUILD_TIME,
                "Experimental": "false",
                "GitCommit": GIT_COMMIT,
                "GoVersion": py,
                "KernelVersion": self.host.kernel_version,
                "MinAPIVersion": MIN_API_VERSION,
                "Os": "linux",
            },
        }
        others = [
            {"Name": c.name, "Version": c.version, "Details": {"GitCommit": c.commit}}
            for c in self.components
        ]
        return {
            "Platform": {"Name": "berthd"},
            "Components": [engine, *others],
            "Version": VERSION,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": GIT_COMMIT,
            "GoVersion": py,
            "Os": "linux",
            "Arch": arch,
            "KernelVersion": self.host.kernel_version,
            "BuildTime": BUILD_TIME,
        }

    # -- /info -------------------------------------------------------------------
    def runtimes(self) -> dict[str, dict[str, Any]]:
        cfg = self._config()
        out: dict[str, dict[str, Any]] = {}
        by_name = {c.name: c for c in self.components}
        for name in STOCK_RUNTIMES:
            if name in by_name:
                out[name] = {"path": by_name[name].path}
        for name, spec in cfg.runtimes.items():
            out[name] = spec.to_api()
        return out

    def _warnings(self, cfg: DaemonConfig) -> list[str]:
        warnings: list[str] = []
        for spec in cfg.hosts:
            host = parse_host(spec, cfg.tls_enabled)
            if host.proto != "tcp":
                continue
            if not cfg.tls_enabled:
                warnings.append(
                    f"WARNING: API is accessible on http://{host.addr} without encryption.\n"
                    "         Access to the remote API is equivalent to root access on the "
                    "host. Refer\n"
                    "         to the 'Docker daemon attack surface' section in the "
                    "documentation for\n"
                    "         more information: https://docs.docker.com/go/attack-surface/"
                )
            elif not cfg.tlsverify:
                warnings.append(
                    f"WARNING: API is accessible on https://{host.addr} without TLS client "
                    "verification (--tlsverify)."
                )
        h = self.host
        if not h.memory_limit:
            warnings.append("WARNING: No memory limit support")
        if not h.swap_limit:
            warnings.append("WARNING: No swap limit support")
        if not h.cpu_cfs_quota:
            warnings.append("WARNING: No cpu cfs quota support")
        if not h.cpu_shares:
            warnings.append("WARNING: No cpu shares support")
        if not h.ipv4_forwarding:
            warnings.append("WARNING: IPv4 forwarding is disabled")
        if not h.bridge_nf_iptables:
            warnings.append("WARNING: bridge-nf-call-iptables is disabled")
        if not h.bridge_nf_ip6tables:
            warnings.append("WARNING: bridge-nf-call-ip6tables is disabled")
        return warnings

    async def info(self) -> dict[str, Any]:
        cfg = self._config()
        counts = await self._counts()
        storage = self._storage()
        h = self.host
        try:
            nfd = len(os.listdir("/proc/self/fd"))
        except OSError:
            nfd = 0
        security = ["name=seccomp,profile=builtin"]
        if h.cgroup_version == "2":
            security.append("name=cgroupns")
        return {
            "ID": self.daemon_id,
            "Containers": counts.containers,
            "ContainersRunning": counts.running,
            "ContainersPaused": counts.paused,
            "ContainersStopped": counts.stopped,
            "Images": counts.images,
            "Driver": storage.driver,
            "DriverStatus": storage.status,
            "Plugins": {**self._plugins(), "Authorization": None},
            "MemoryLimit": h.memory_limit,
            "SwapLimit": h.swap_limit,
            "CpuCfsPeriod": h.cpu_cfs_period,
            "CpuCfsQuota": h.cpu_cfs_quota,
            "CPUShares": h.cpu_shares,
            "CPUSet": h.cpuset,
            "PidsLimit": h.pids_limit,
            "IPv4Forwarding": h.ipv4_forwarding,
            "BridgeNfIptables": h.bridge_nf_iptables,
            "BridgeNfIp6tables": h.bridge_nf_ip6tables,
            "Debug": cfg.debug,
            "NFd": nfd,
            "OomKillDisable": h.oom_kill_disable,
            "NGoroutines": len(asyncio.all_tasks()) + threading.active_count(),
            "SystemTime": datetime.now().astimezone().isoformat(timespec="microseconds"),
            "LoggingDriver": "json-file",
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": h.cgroup_version,
            "NEventsListener": self.events.listener_count,
            "KernelVersion": h.kernel_version,
            "OperatingSystem": h.operating_system,
            "OSVersion": h.os_version,
            "OSType": "linux",
            "Architecture": h.architecture,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": dict(self._registry_config()),
            "NCPU": h.ncpu,
            "MemTotal": h.mem_total,
            "GenericResources": None,
            "DockerRootDir": cfg.data_root,
            "HttpProxy": os.environ.get("HTTP_PROXY", os.environ.get("http_proxy", "")),
            "HttpsProxy": os.environ.get("HTTPS_PROXY", os.environ.get("https_proxy", "")),
            "NoProxy": os.environ.get("NO_PROXY", os.environ.get("no_proxy", "")),
            "Name": h.hostname,
            "Labels": list(cfg.labels),
            "ExperimentalBuild": False,
            "ServerVersion": VERSION,
            "Runtimes": self.runtimes(),
            "DefaultRuntime": self._default_runtime(),
            "Swarm": self._swarm.info(),
            "LiveRestoreEnabled": cfg.live_restore,
            "Isolation": "",
            "InitBinary": "docker-init",
            "ContainerdCommit": {"ID": "", "Expected": ""},
            "RuncCommit": self._commit("runc"),
            "InitCommit": self._commit("docker-init"),
            "SecurityOptions": security,
            "CDISpecDirs": [],
            "Warnings": self._warnings(cfg),
        }

    def _commit(self, name: str) -> dict[str, str]:
        for c in self.components:
            if c.name == name:
                return {"ID": c.commit or c.version, "Expected": c.commit or c.version}
        return {"ID": "N/A", "Expected": "N/A"}

    # -- /events -----------------------------------------------------------------
    def subscribe_events(
        self, since: float | None, until: float | None, filters: FilterArgs
    ) -> Subscription:
        return self.events.subscribe(since, until, filters)

    # -- /system/df ----------------------------------------------------------------
    async def system_df(self, types: list[str]) -> dict[str, Any]:
        usage = await self._disk_usage(types)
        want = set(types) or {"container", "image", "volume", "build-cache"}
        out: dict[str, Any] = {}
        if "image" in want:
            out["LayersSize"] = usage.layers_size
            out["Images"] = usage.images
        if "container" in want:
            out["Containers"] = usage.containers
        if "volume" in want:
            out["Volumes"] = usage.volumes
        if "build-cache" in want:
            out["BuildCache"] = usage.build_cache
        return out
