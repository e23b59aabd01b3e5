"""The volumes and binds of a container's run: fill, mount, unmount, release.

``VolumeMounts`` is what create, start, the exit and rm share of a container's
mount points (moby's daemon/volumes.go and container.UnmountVolumes); it owns
no state beyond its dependencies.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.context import log
from berthd.daemon.containers.files import ContainerPaths
from berthd.daemon.containers.volumes import VolumeBackend, copy_up
from berthd.daemon.events import EventsService
from berthd.layer import LayerStore
from berthd.oci.mounts import parse_bind
from berthd.volume import subpath

__all__ = ["VolumeMounts"]


class VolumeMounts:
    def __init__(
        self,
        volumes: VolumeBackend,
        layers: LayerStore,
        events: EventsService,
        paths: Callable[[], ContainerPaths],
    ) -> None:
        self._volumes = volumes
        self._layers = layers
        self._events = events
        self._paths = paths

    async def fill(self, c: Container) -> None:
        """Copy the image's content into new, empty volumes (dockerd's copy-up)."""
        todo = [
            (d, r)
            for d, r in c.mount_points.items()
            if r.get("Type") == "volume" and r.get("CopyData")
        ]
        if not todo:
            return
        rootfs = await asyncio.to_thread(self._layers.mount, c.id)
        try:
            for dest, rec in todo:
                path = await self._volumes.mount(rec["Name"], c.id)
                try:
                    await asyncio.to_thread(copy_up, rootfs, dest, path)
                finally:
                    await self._volumes.unmount(rec["Name"], c.id)
        finally:
            await asyncio.to_thread(self._layers.unmount, c.id)

    async def mount(self, c: Container) -> dict[str, str]:
        """Mount c's volumes: destination → host path (a subpath's safe bind)."""
        paths: dict[str, str] = {}
        try:
            for dest, rec in c.mount_points.items():
                if rec.get("Type") != "volume":
                    continue
                paths[dest] = await self._volumes.mount(rec["Name"], c.id)
                if rec.get("Subpath"):
                    safe = await asyncio.to_thread(
                        subpath.join, paths[dest], rec["Subpath"], self._paths().safepath_dir(c.id)
                    )
                    paths[dest] = safe.path
                rw = "true" if rec.get("RW", True) else "false"
                self._events.log(
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
            await self.unmount(c)
            raise
        return paths

    async def release_subpaths(self, c: Container) -> None:
        """Take down the subpath binds of c's start (the runtime holds its own by then)."""
        await asyncio.to_thread(subpath.sweep, self._paths().safepath_dir(c.id))

    async def unmount(self, c: Container) -> None:
        await self.release_subpaths(c)
        for rec in c.mount_points.values():
            if rec.get("Type") != "volume":
                continue
            with contextlib.suppress(errdefs.BerthdError):
                await self._volumes.unmount(rec["Name"], c.id)
                attrs = {"container": c.id, "driver": str(rec.get("Driver", ""))}
                self._events.log("volume", "unmount", rec["Name"], attrs)

    @staticmethod
    def ensure_bind_sources(c: Container) -> None:
        """``-v /host:/ctr`` creates a missing host directory, as dockerd does."""
        for raw in c.host_config.get("Binds") or []:
            mp = parse_bind(str(raw))
            if mp.type == "bind" and mp.source and not os.path.lexists(mp.source):
                os.makedirs(mp.source, mode=0o755, exist_ok=True)

    async def release(self, c: Container, remove_anonymous: bool) -> None:
        """At rm: drop c's references, and remove its anonymous volumes if asked."""
        for rec in c.mount_points.values():
            if rec.get("Type") != "volume":
                continue
            with contextlib.suppress(errdefs.BerthdError):
                await self._volumes.release(rec["Name"], c.id)
            if remove_anonymous and rec.get("Anonymous"):
                try:
                    await self._volumes.remove(rec["Name"])
                except errdefs.BerthdError as e:
                    log.warning("could not remove volume %s: %s", rec["Name"], e)

    async def live_restore(self, c: Container) -> None:
        """A container that kept running while the daemon was away holds its volumes."""
        for rec in c.mount_points.values():
            if rec.get("Type") == "volume":
                with contextlib.suppress(errdefs.BerthdError):
                    await self._volumes.live_restore(rec["Name"], c.id)

    async def reference(self, c: Container) -> None:
        """At load: note c's references on its volumes."""
        for rec in c.mount_points.values():
            if rec.get("Type") == "volume":
                try:
                    await self._volumes.get(rec["Name"], ref=c.id)
                except errdefs.BerthdError as e:
                    log.warning("container %s: volume %s: %s", c.short_id, rec["Name"], e)
