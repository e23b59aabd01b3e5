"""What clients read of a container: inspect, ps, top, stats, diff, export,
logs; and ``docker update``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.context import ContainerContext
from berthd.daemon.containers.inspect_ops import empty_stats, run_ps, shape_stats
from berthd.daemon.containers.links import link_names
from berthd.daemon.containers.logs import LogsOptions, check_logs, stream_logs
from berthd.daemon.containers.normalize import (
    validate_restart_policy,
)
from berthd.daemon.containers.run import ContainerRunner
from berthd.daemon.containers.sizes import container_sizes
from berthd.daemon.containers.view import inspect_container, summary
from berthd.daemon.containers.view import list_containers as view_list
from berthd.image.delete import ContainerUse
from berthd.layer.aio import aiter_chunks
from berthd.lib.filters import FilterArgs
from berthd.oci.resources import linux_resources, update_resources, validate_resources

__all__ = ["ContainerViews"]


class ContainerViews:
    """moby's inspect.go, list.go, top, stats, changes, export, logs and update.go
    (no state of its own; the runner says which containers' runs are watched)."""

    def __init__(self, ctx: ContainerContext, runner: ContainerRunner) -> None:
        self._ctx = ctx
        self._runner = runner

    # -- views ------------------------------------------------------------------------------------
    async def inspect(self, ref: str, api_version: str, size: bool) -> dict[str, Any]:
        c = self._ctx.get(ref)
        sizes = await asyncio.to_thread(container_sizes, self._ctx.layers, c.id) if size else None
        return inspect_container(c, self._graph_data(c), api_version, sizes)

    def _graph_data(self, c: Container) -> dict[str, str]:
        try:
            rw = self._ctx.layers.get_rw_layer(c.id)
        except errdefs.NotFound:
            return {}
        root = getattr(self._ctx.layers.driver, "root", "")
        if self._ctx.driver_name != "overlay2" or not root:
            return {}
        mount = os.path.join(root, rw.mount_id)
        return {
            "MergedDir": os.path.join(mount, "merged"),
            "UpperDir": os.path.join(mount, "diff"),
            "WorkDir": os.path.join(mount, "work"),
        }

    async def list_containers(
        self, all_: bool, limit: int, size: bool, filters: FilterArgs
    ) -> list[dict[str, Any]]:
        ancestors: set[str] | None = None
        if filters.contains("ancestor"):
            # as dockerd: each image a value names, and the images built on it;
            # a value that names no image is skipped
            ancestors = set()
            for ref in filters.get("ancestor"):
                with contextlib.suppress(errdefs.BerthdError):
                    todo = [self._ctx.images.resolve_image(ref).id]
                    while todo:
                        image_id = todo.pop()
                        if image_id not in ancestors:
                            ancestors.add(image_id)
                            todo += self._ctx.images.image_children(image_id)
        linked = link_names(self._ctx.store)
        rows = view_list(self._ctx.store, all_, limit, filters, ancestors, linked)
        out = [
            summary(c, str(c.config.get("Image") or c.image_id), linked.get(c.id, ())) for c in rows
        ]
        if size:

            def measure() -> list[tuple[int, int]]:
                return [container_sizes(self._ctx.layers, c.id) for c in rows]

            for row, (rw, rootfs) in zip(out, await asyncio.to_thread(measure), strict=True):
                row["SizeRw"], row["SizeRootFs"] = rw, rootfs
        return out

    # -- top, stats, update, changes, export -------------------------------------------------------
    async def top(self, ref: str, ps_args: str) -> dict[str, Any]:
        c = self._ctx.get(ref)
        if not c.state.running or c.state.restarting:
            raise errdefs.Conflict(f"Container {c.id} is not running")
        pids = await self._ctx.supervisor.pids(c.id)
        return await run_ps(ps_args, pids)

    async def stats(self, ref: str, stream: bool) -> AsyncIterator[dict[str, Any]]:
        """One stats document, or one a second while ``stream``."""
        c = self._ctx.get(ref)
        return self._stats_iter(c, stream)

    async def _raw_stats(self, c: Container) -> dict[str, Any]:
        raw = await self._ctx.supervisor.stats(c.id)
        if c.host_config.get("NetworkMode") == "host":
            raw.pop("networks", None)  # the host's interfaces are not the container's
        return raw

    async def _stats_iter(self, c: Container, stream: bool) -> AsyncIterator[dict[str, Any]]:
        previous: dict[str, Any] | None = None
        while True:
            if not c.state.running or c.state.restarting:
                yield empty_stats(c.name, c.id)
                return
            try:
                raw = await self._raw_stats(c)
            except errdefs.BerthdError:
                yield empty_stats(c.name, c.id)
                return
            if previous is None and stream is False:
                # one-shot with a CPU delta, as the CLI's --no-stream expects
                first = shape_stats(raw, None, c.name, c.id)
                await asyncio.sleep(0.1)
                with contextlib.suppress(errdefs.BerthdError):
                    raw = await self._raw_stats(c)
                yield shape_stats(raw, first, c.name, c.id)
                return
            doc = shape_stats(raw, previous, c.name, c.id)
            yield doc
            if not stream:
                return
            previous = doc
            await asyncio.sleep(1.0)

    async def update(self, ref: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errdefs.InvalidParameter("invalid JSON: update configuration must be an object")
        c = self._ctx.get(ref)
        async with c.lock:
            hc = update_resources(c.host_config, body)
            # dockerd checks the merged result as at create (400), before the runtime
            validate_resources(hc, update=True)
            policy = body.get("RestartPolicy")
            if policy:
                validate_restart_policy(policy)
            if policy and policy.get("Name"):  # an empty name changes nothing (CLI's default)
                if hc.get("AutoRemove") and policy.get("Name") not in ("", "no"):
                    raise errdefs.InvalidParameter(
                        "Restart policy cannot be updated because AutoRemove is enabled for "
                        "the container"
                    )
                hc["RestartPolicy"] = {
                    "Name": policy.get("Name") or "no",
                    "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0),
                }
            if c.state.running and not c.state.restarting:
                await self._ctx.supervisor.update(c.id, linux_resources(hc))
            c.host_config = hc
            await asyncio.to_thread(self._ctx.store.checkpoint, c)
        self._ctx.log_event(c, "update")
        return {"Warnings": []}

    def image_users(self, image_id: str) -> list[ContainerUse]:
        """The containers made from an image: rmi's conflicts, ``docker images`` and
        ``system df`` counts."""
        return [
            ContainerUse(c.id, c.state.running) for c in self._ctx.store if c.image_id == image_id
        ]

    async def changes(self, ref: str) -> list[dict[str, Any]]:
        c = self._ctx.get(ref)
        found = await asyncio.to_thread(self._ctx.layers.changes, c.id)
        return [{"Path": ch.path, "Kind": int(ch.kind)} for ch in found]

    def export(self, ref: str) -> AsyncIterator[bytes]:
        c = self._ctx.get(ref)
        self._ctx.log_event(c, "export")
        return aiter_chunks(lambda: self._ctx.layers.export_rootfs(c.id))

    # -- logs -----------------------------------------------------------------------------------
    def logs(self, ref: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]:
        """(tty, body chunks); errors are raised before anything is sent."""
        c = self._ctx.get(ref)
        check_logs(c, opts)
        stopped = self._runner.exited_event(c.id) if c.state.running else None
        return c.tty, stream_logs(c, opts, stopped)
