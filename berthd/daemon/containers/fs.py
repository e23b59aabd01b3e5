"""ContainerFSService: what users do with a container's file system, beside its life.

``docker cp`` (archive), ``docker commit``, ``docker container prune`` and the
container sizes of ``docker system df``/``ps -s``. It stands on the container
service and the image service, which it takes as constructor dependencies typed
by the Protocols of seams.py (never the services' classes), and never reaches
into their internals beyond their public stores, so the container verbs module
stays about the container's life.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from berthd import errdefs
from berthd.container import Container
from berthd.daemon.containers.archive import ArchiveOps
from berthd.daemon.containers.commit import CommitRequest, commit_container
from berthd.daemon.containers.prune import prune_containers
from berthd.daemon.containers.seams import ContainerOps, ImageRegistrar
from berthd.daemon.containers.sizes import container_sizes
from berthd.daemon.containers.view import summary
from berthd.image.reference import repo_tag_reference
from berthd.image.spec import parse_container_config
from berthd.lib.filters import FilterArgs

__all__ = ["ContainerFSService"]


class ContainerFSService:
    def __init__(self, containers: ContainerOps, images: ImageRegistrar) -> None:
        self.containers = containers
        self.images = images
        self.archive = ArchiveOps(containers.layers, containers.log_event)

    # -- docker cp ---------------------------------------------------------------------------
    async def stat_path(self, name: str, path: str) -> dict[str, Any]:
        c = self.containers.get(name)
        return await self.archive.stat(c, name, path)

    async def archive_path(
        self, name: str, path: str
    ) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        c = self.containers.get(name)
        return await self.archive.get(c, name, path)

    async def extract_to_dir(
        self,
        name: str,
        path: str,
        body: AsyncIterator[bytes],
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> None:
        c = self.containers.get(name)
        await self.archive.put(
            c,
            name,
            path,
            body,
            no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
            copy_uid_gid=copy_uid_gid,
        )

    # -- docker commit -----------------------------------------------------------------------
    async def commit(
        self,
        container: str,
        repo: str,
        tag: str,
        comment: str,
        author: str,
        pause: bool,
        changes: list[str],
        config: object,
    ) -> str:
        """``POST /commit``: ``config`` is the request body (parsed JSON, checked here)."""
        ref = repo_tag_reference(repo, tag)
        if config is not None and not isinstance(config, dict):
            raise errdefs.InvalidParameter("invalid JSON: config must be an object")
        try:
            typed = None if config is None else parse_container_config(config, "")
        except errdefs.InvalidParameter as err:  # dockerd's decoder: "invalid JSON: json: …"
            raise errdefs.InvalidParameter(f"invalid JSON: {err}") from None
        req = CommitRequest(container, ref, comment, author, pause, changes, typed)
        return await self.commit_request(req)

    async def commit_request(self, req: CommitRequest) -> str:
        """The typed seam: commit a container as ``req`` says; the new image's ID."""
        return await commit_container(self.containers, self.images, req)

    # -- docker container prune --------------------------------------------------------------
    async def prune(self, filters: FilterArgs) -> dict[str, Any]:
        return await prune_containers(self.containers, filters)

    # -- sizes -------------------------------------------------------------------------------
    def sizes(self, c: Container) -> tuple[int, int]:
        return container_sizes(self.containers.layers, c.id)

    async def disk_usage(self) -> list[dict[str, Any]]:
        """The ``Containers`` rows of ``/system/df``: ps rows with both sizes."""

        def rows() -> list[dict[str, Any]]:
            out = []
            ordered = sorted(self.containers.store, key=lambda c: c.created, reverse=True)
            for c in ordered:
                row = summary(c, str(c.config.get("Image") or c.image_id))
                row["SizeRw"], row["SizeRootFs"] = self.sizes(c)
                out.append(row)
            return out

        return await asyncio.to_thread(rows)
