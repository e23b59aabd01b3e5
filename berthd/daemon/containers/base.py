"""The state and shared helpers of the container service.

``ContainerService`` (service.py) is assembled from one mixin per group of
verbs (create, run, stop, info, sessions, restore); they all stand on this
base: the stores and services the container verbs use, the per-container
bookkeeping (monitor tasks, stop events, pending restarts), events, and the
volume mount helpers that several verbs share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from typing import Any

import orjson

from berthd import errdefs
from berthd.config import DaemonConfig
from berthd.container import Container, ContainerStore
from berthd.daemon.containers.attach import PendingAttaches
from berthd.daemon.containers.deps import ImageLookup
from berthd.daemon.containers.exec import ExecRecord
from berthd.daemon.containers.files import ContainerPaths
from berthd.daemon.containers.hooks import LifecycleHook, NetworkAttacher, NoNetwork
from berthd.daemon.containers.volumes import (
    VolumeBackend,
    copy_up,
)
from berthd.daemon.containers.waiters import Waiters
from berthd.daemon.events import EventsService
from berthd.layer import LayerStore
from berthd.lib.atomicfile import write_atomic
from berthd.oci import parse_signal
from berthd.oci.mounts import parse_bind
from berthd.runtime.monitor import ExitStatus
from berthd.runtime.supervisor import Supervisor

log = logging.getLogger("berthd.containers")

DEFAULT_STOP_TIMEOUT = 10
# dockerd's exit code for a container that failed to start for an unknown reason
EXIT_UNKNOWN = 128


class ServiceBase:
    def __init__(
        self,
        config: Callable[[], DaemonConfig],
        store: ContainerStore,
        layers: LayerStore,
        images: ImageLookup,
        supervisor: Supervisor,
        events: EventsService,
        driver_name: str,
        default_runtime: Callable[[], str],
        volumes: VolumeBackend,
    ) -> None:
        self._config = config
        self.store = store
        self.layers = layers
        self.images = images
        self.supervisor = supervisor
        self.events = events
        self.driver_name = driver_name
        self._default_runtime = default_runtime
        self.volumes = volumes
        self.network: NetworkAttacher = NoNetwork()
        self.hooks: list[LifecycleHook] = []
        self.waiters = Waiters()
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._stopped: dict[str, asyncio.Event] = {}
        self.pending_attaches = PendingAttaches()
        self.execs: dict[str, ExecRecord] = {}
        self._exec_tasks: set[asyncio.Task[None]] = set()
        self._restarts: dict[str, asyncio.Task[None]] = {}
        # policy restarts past their backoff wait, starting the container: not cancellable
        self._restarts_starting: set[str] = set()
        self._backoff: dict[str, float] = {}
        self._shutting_down = False

    @property
    def paths(self) -> ContainerPaths:
        cfg = self._config()
        return ContainerPaths(cfg.data_root, cfg.exec_root)

    # -- events -------------------------------------------------------------------------
    def log_event(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None:
        attrs: dict[str, str] = dict(c.config.get("Labels") or {})
        attrs["image"] = str(c.config.get("Image") or "")
        attrs["name"] = c.name.lstrip("/")
        if extra:
            attrs.update(extra)
        self.events.log("container", action, c.id, attrs)

    def get(self, ref: str) -> Container:
        return self.store.get(ref)

    async def _fill_volumes(self, c: Container) -> None:
        """Copy the image's content into new, empty volumes (dockerd's copy-up)."""
        todo = [
            (d, r)
            for d, r in c.mount_points.items()
            if r.get("Type") == "volume" and r.get("CopyData")
        ]
        if not todo:
            return
        rootfs = await asyncio.to_thread(self.layers.mount, c.id)
        try:
            for dest, rec in todo:
                path = await self.volumes.mount(rec["Name"], c.id)
                try:
                    await asyncio.to_thread(copy_up, rootfs, dest, path)
                finally:
                    await self.volumes.unmount(rec["Name"], c.id)
        finally:
            await asyncio.to_thread(self.layers.unmount, c.id)

    async def _mount_volumes(self, c: Container) -> dict[str, str]:
        paths: dict[str, str] = {}
        try:
            for dest, rec in c.mount_points.items():
                if rec.get("Type") != "volume":
                    continue
                paths[dest] = await self.volumes.mount(rec["Name"], c.id)
                rw = "true" if rec.get("RW", True) else "false"
                self.events.log(
                    "volume",
                    "mount",
                    rec["Name"],
                    {
                        "container": c.id,
                        "destination": dest,
                        "driver": str(rec.get("Driver", "")),
                        "propagation": "",
                        "read/write": rw,
                    },
                )
        except BaseException:
            await self._unmount_volumes(c)
            raise
        return paths

    async def _unmount_volumes(self, c: Container) -> None:
        for rec in c.mount_points.values():
            if rec.get("Type") != "volume":
                continue
            with contextlib.suppress(errdefs.BerthdError):
                await self.volumes.unmount(rec["Name"], c.id)
                attrs = {"container": c.id, "driver": str(rec.get("Driver", ""))}
                self.events.log("volume", "unmount", rec["Name"], attrs)

    def _ensure_bind_sources(self, c: Container) -> None:
        """``-v /host:/ctr`` creates a missing host directory, as dockerd does."""
        for raw in c.host_config.get("Binds") or []:
            mp = parse_bind(str(raw))
            if mp.type == "bind" and mp.source and not os.path.lexists(mp.source):
                os.makedirs(mp.source, mode=0o755, exist_ok=True)

    async def _release_volumes(self, c: Container, remove_anonymous: bool) -> None:
        for rec in c.mount_points.values():
            if rec.get("Type") != "volume":
                continue
            with contextlib.suppress(errdefs.BerthdError):
                await self.volumes.release(rec["Name"], c.id)
            if remove_anonymous and rec.get("Anonymous"):
                try:
                    await self.volumes.remove(rec["Name"])
                except errdefs.BerthdError as e:
                    log.warning("could not remove volume %s: %s", rec["Name"], e)

    def _remove_on_disk(self, c: Container) -> None:
        self._remove_on_disk_id(c.id)

    def _remove_on_disk_id(self, cid: str) -> None:
        with contextlib.suppress(errdefs.NotFound):
            self.layers.release_rw_layer(cid)
        self.store.remove_dir(cid)
        shutil.rmtree(self.paths.bundle_dir(cid), ignore_errors=True)

    # -- provided by the mixins (declared here so each mixin type-checks alone) --------
    def _stop_signal_and_timeout(self, c: Container, sig: str, t: int | None) -> tuple[int, int]:
        signum = parse_signal(sig or str(c.config.get("StopSignal") or "SIGTERM"))
        if t is None:
            stop_timeout = c.config.get("StopTimeout")
            t = int(stop_timeout) if stop_timeout is not None else DEFAULT_STOP_TIMEOUT
        return signum, t

    async def start(self, ref: str) -> None:
        raise NotImplementedError

    async def remove(self, ref: str, force: bool, volumes: bool) -> None:
        raise NotImplementedError

    async def _start_locked(self, c: Container) -> None:
        raise NotImplementedError

    async def _handle_exit(
        self, c: Container, status: ExitStatus, *, restarting: bool = False
    ) -> None:
        raise NotImplementedError

    def _watch(self, c: Container) -> None:
        raise NotImplementedError

    async def _cancel_restart(self, c: Container) -> bool:
        raise NotImplementedError

    def _reset_restart_policy(self, c: Container) -> None:
        raise NotImplementedError

    async def _signal(self, c: Container, signum: int) -> None:
        raise NotImplementedError

    async def _stop_container(self, c: Container, sig: str, t: int | None) -> None:
        raise NotImplementedError


def _write_bundle(bundle: str, spec: dict[str, Any]) -> None:
    os.makedirs(bundle, mode=0o700, exist_ok=True)
    write_atomic(os.path.join(bundle, "config.json"), orjson.dumps(spec), mode=0o600, sync=False)


def _network_settings(host_config: dict[str, Any]) -> dict[str, Any]:
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {},
    }


def _utcnow() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
