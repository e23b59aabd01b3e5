"""VolumesService: what the /volumes routes and the container code ask about volumes.

moby's ``volume/service.VolumesService``. The store below is blocking (SQLite,
the file system, mount(8), plugin sockets), so every call that can touch them
runs in a worker thread; reference queries are in-memory and answer at once.
Events are logged here, on the event loop, after the store has done the work.

For the container code (one ``ref`` = one container ID):

- ``get_or_create(name, driver, opts, labels, ref)`` when a container is created with
  ``-v name:/path`` (``name=""`` = anonymous), ``get(name, ref=…)`` when it is restored;
- ``mount(name, mount_id)`` / ``unmount(name, mount_id)`` around each run;
- ``live_restore(name, ref)`` for a container still running after a daemon restart;
- ``release(name, ref)`` when the container is removed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from typing import Any, Protocol

from berthd.daemon.volumes.filters import list_matcher, prune_matcher
from berthd.errdefs import BerthdError, Conflict
from berthd.lib.filters import FilterArgs
from berthd.volume import (
    ANONYMOUS_LABEL,
    DEFAULT_DRIVER,
    DriverRegistry,
    LocalDriver,
    PluginDirs,
    Volume,
    VolumeStore,
    directory_size,
    generate_name,
)

__all__ = ["EventLogger", "VolumesService"]

log = logging.getLogger("berthd.volume")

VOLUMES_DIR = "volumes"


class EventLogger(Protocol):
    """``EventsService.log``'s shape: (type, action, actor id, attributes)."""

    def log(
        self,
        type_: str,
        action: str,
        actor_id: str,
        attributes: Mapping[str, str] | None = None,
    ) -> Any: ...


class VolumesService:
    def __init__(self, store: VolumeStore, events: EventLogger | None = None) -> None:
        self.store = store
        self._events = events
        self._prune_running = False

    @classmethod
    async def open(
        cls,
        data_root: str,
        events: EventLogger | None = None,
        plugin_dirs: PluginDirs | None = None,
        plugin_timeout: float = 30.0,
    ) -> VolumesService:
        """Open ``<data-root>/volumes`` (the local driver's volumes and metadata.db)."""

        def build() -> VolumeStore:
            root = os.path.join(data_root, VOLUMES_DIR)
            registry = DriverRegistry(LocalDriver(root), plugin_dirs, plugin_timeout)
            return VolumeStore(root, registry)

        return cls(await asyncio.to_thread(build), events)

    async def shutdown(self) -> None:
        """Close metadata.db; volumes stay as they are (mounted ones stay mounted)."""
        await asyncio.to_thread(self.store.close)

    def _event(self, action: str, actor: str, attrs: Mapping[str, str]) -> None:
        if self._events is not None:
            self._events.log("volume", action, actor, attrs)

    # -- the /volumes API ---------------------------------------------------------------
    async def create(
        self,
        name: str,
        driver: str = "",
        opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``POST /volumes/create``: the new (or existing) volume."""
        vol = await self.get_or_create(name, driver, opts, labels)
        return vol.to_api()

    async def inspect(self, name: str) -> dict[str, Any]:
        vol = await asyncio.to_thread(self.store.get, name)
        return vol.to_api(with_status=True)

    async def list_volumes(self, filters: FilterArgs) -> dict[str, Any]:
        """``GET /volumes``: ``{"Volumes": […], "Warnings": […] or null}``."""
        match = list_matcher(filters)
        vols, warnings = await asyncio.to_thread(self.store.list)
        out = [v.to_api() for v in vols if match(v, self.store.has_refs(v.name))]
        return {"Volumes": out, "Warnings": warnings or None}

    async def remove(self, name: str, force: bool = False) -> None:
        """``DELETE /volumes/{name}``: 409 while any container uses it, even with force."""
        removed = await asyncio.to_thread(self.store.remove, name, force)
        if removed is not None:
            self._event("destroy", removed.name, {"driver": removed.driver})

    async def prune(self, filters: FilterArgs) -> dict[str, Any]:
        """``POST /volumes/prune``: unused local volumes, anonymous ones unless ``all``."""
        if self._prune_running:
            raise Conflict("a prune operation is already running")
        self._prune_running = True
        try:
            match = prune_matcher(filters)
            vols, _ = await asyncio.to_thread(self.store.list)
            deleted: list[str] = []
            reclaimed = 0
            for vol in vols:
                if not match(vol) or self.store.has_refs(vol.name):
                    continue
                size = await asyncio.to_thread(directory_size, vol.mountpoint)
                try:
                    await asyncio.to_thread(self.store.remove, vol.name, False)
                except BerthdError as e:
                    log.warning("Could not remove volume %s while pruning: %s", vol.name, e)
                    continue
                self._event("destroy", vol.name, {"driver": vol.driver})
                reclaimed += size
                deleted.append(vol.name)
            self._event("prune", "", {"reclaimed": str(reclaimed)})
            return {"VolumesDeleted": deleted, "SpaceReclaimed": reclaimed}
        finally:
            self._prune_running = False

    # -- for the container code ---------------------------------------------------------
    async def get_or_create(
        self,
        name: str,
        driver: str = "",
        opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        ref: str = "",
    ) -> Volume:
        """The volume called ``name``, created if missing; ``ref`` now uses it.

        An empty name makes an anonymous volume: a generated 64-hex name and
        the ``com.docker.volume.anonymous`` label (what plain prune removes).
        """
        if not name:
            name = generate_name()
            labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
        result = await asyncio.to_thread(self.store.create, name, driver, opts, labels, ref)
        if result.created:
            self._event("create", result.volume.name, {"driver": result.volume.driver})
        return result.volume

    async def get(self, name: str, driver: str = "", ref: str = "") -> Volume:
        """The volume; with ``ref``, record that it uses the volume (restore)."""
        return await asyncio.to_thread(self.store.get, name, driver, ref)

    async def release(self, name: str, ref: str) -> None:
        """``ref`` no longer uses the volume (its container was removed)."""
        await asyncio.to_thread(self.store.release, name, ref)

    async def mount(self, name: str, ref: str) -> str:
        """Mount for one use (``ref`` unique per mount); the host path to bind."""
        return await asyncio.to_thread(self.store.mount, name, ref)

    async def unmount(self, name: str, ref: str) -> None:
        await asyncio.to_thread(self.store.unmount, name, ref)

    async def live_restore(self, name: str, ref: str) -> None:
        """A container that kept running across a restart: its ref and its mount count."""
        await asyncio.to_thread(self.store.live_restore, name, ref)

    def refs(self, name: str) -> list[str]:
        return self.store.refs(name)

    def is_in_use(self, name: str) -> bool:
        return self.store.has_refs(name)

    # -- for /info and /system/df -------------------------------------------------------
    def driver_names(self) -> list[str]:
        """``Plugins.Volume`` of /info: local and every plugin activated so far."""
        return self.store.drivers.names()

    async def disk_usage(self) -> list[dict[str, Any]]:
        """``system df``'s Volumes: local volumes without options, with UsageData."""

        def collect() -> list[dict[str, Any]]:
            vols, _ = self.store.list()
            out: list[dict[str, Any]] = []
            for v in vols:
                if v.driver != DEFAULT_DRIVER or v.options:
                    continue
                api = v.to_api()
                api["UsageData"] = {
                    "Size": directory_size(v.mountpoint),
                    "RefCount": len(self.store.refs(v.name)),
                }
                out.append(api)
            return out

        return await asyncio.to_thread(collect)
