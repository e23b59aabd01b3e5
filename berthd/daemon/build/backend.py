"""The builder's :class:`~berthd.builder.backend.Backend` over the daemon's services.

Build containers are ordinary containers (``docker run``'s create/start path,
attach before start so no output is missed, ``docker commit``'s layer diff);
each one is journalled under ``<data-root>/builder/containers`` while it lives,
so a daemon killed mid-build removes them at its next start. COPY/ADD write
into a bare read-write layer (no container), named ``builder-…`` for the same
reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from berthd import errdefs
from berthd.builder.backend import (
    BaseImage,
    CommitStep,
    ContainerConfig,
    CopyToLayer,
    Created,
    HostOptions,
    OutputFn,
)
from berthd.builder.options import host_arch
from berthd.builder.scoped import resolve_in_scope
from berthd.container import Container
from berthd.daemon.build.copychild import copy_parts
from berthd.daemon.build.names import JOURNAL_DIR, LAYER_PREFIX
from berthd.daemon.containers.commit import child_image_config
from berthd.daemon.containers.seams import CreateRequest
from berthd.image.digest import chain_id
from berthd.image.lookup import get_image
from berthd.image.reference import parse_normalized_named
from berthd.image.spec import ImageConfig, parse_container_config

if TYPE_CHECKING:
    from berthd.daemon.containers.service import ContainerService
    from berthd.daemon.images import ImageService

__all__ = ["DaemonBuildBackend"]

log = logging.getLogger("berthd.build")


def _auth_header(auth: dict[str, dict[str, str]], domain: str) -> str | None:
    """``ResolveAuthConfig``: the entry for this registry, as an X-Registry-Auth value."""
    wanted = {domain, "index.docker.io"} if domain == "docker.io" else {domain}
    for key, cfg in auth.items():
        host = key.split("://", 1)[-1].split("/", 1)[0]
        if key == domain or host in wanted:
            return base64.urlsafe_b64encode(json.dumps(cfg).encode()).decode()
    return None


class DaemonBuildBackend:
    def __init__(self, containers: ContainerService, images: ImageService, state_dir: str) -> None:
        self.containers = containers
        self.images = images
        self.journal = os.path.join(state_dir, JOURNAL_DIR)
        self._mounts: dict[str, str] = {}  # mount path → rw layer name

    # -- images ---------------------------------------------------------------------------
    def _base(self, image_id: str) -> BaseImage:
        store = self.images.images
        img = store.get(image_id)
        doc = img.config.doc
        return BaseImage(
            id=img.id,
            config=dict(doc.get("config") or {}),
            os=doc.get("os", ""),
            architecture=doc.get("architecture", ""),
            variant=doc.get("variant", ""),
            history=list(doc.get("history") or []),
            diff_ids=list(doc["rootfs"].get("diff_ids") or []),
            container_config=dict(doc.get("container_config") or {}),
            created=doc.get("created", ""),
            built_locally=store.is_built_locally(img.id),
            parent=img.parent,
        )

    async def get_image(self, ref: str) -> BaseImage:
        def lookup() -> BaseImage:
            img = get_image(self.images.images, self.images.references, ref)
            return self._base(img.id)

        return await asyncio.to_thread(lookup)

    async def pull_image(
        self,
        ref: str,
        platform: str,
        auth: dict[str, dict[str, str]],
        output: Callable[[bytes], None],
    ) -> None:
        name = parse_normalized_named(ref)
        image, tag = (ref, "") if name.digest else (name.familiar_name(), name.tag or "latest")
        header = _auth_header(auth, name.domain)
        async for chunk in self.images.pull_image(image, tag, platform, header, {}):
            output(chunk)

    async def children(self, image_id: str) -> list[BaseImage]:
        store = self.images.images

        def read() -> list[BaseImage]:
            out = []
            if image_id:
                ids = store.children(image_id)
            else:
                # FROM scratch: dockerd never hits the cache here (no parent to ask);
                # the first step of a scratch stage is a builtLocally root of one step
                ids = [
                    i
                    for i, img in store.map().items()
                    if not img.parent and len(img.config.history) == 1 and store.is_built_locally(i)
                ]
            for child in ids:
                with contextlib.suppress(errdefs.BerthdError):
                    out.append(self._base(child))
            return out

        return await asyncio.to_thread(read)

    async def set_parent(self, image_id: str, parent: str) -> None:
        await asyncio.to_thread(self.images.images.set_parent, image_id, parent)

    async def restore_cached(self, raw_config: bytes, parent: str) -> str:
        def create() -> str:
            image_id = self.images.images.create(raw_config)
            if parent:
                self.images.images.set_parent(image_id, parent)
            return image_id

        return await asyncio.to_thread(create)

    async def tag(self, image_id: str, ref: str) -> str:
        named = parse_normalized_named(ref).tag_name_only()
        await asyncio.to_thread(self.images.tag, image_id, named)
        return named.familiar_string()

    # -- containers -----------------------------------------------------------------------
    def _journal(self, cid: str, add: bool) -> None:
        path = os.path.join(self.journal, cid)
        if add:
            os.makedirs(self.journal, mode=0o700, exist_ok=True)
            with open(path, "wb"):
                pass
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    async def create_container(self, config: ContainerConfig, host: HostOptions) -> Created:
        network = host.network_mode
        if not network or network == "default":
            network = "bridge"
        host_config: dict[str, object] = {
            "NetworkMode": network,
            "LogConfig": {"Type": "none", "Config": {}},
            "ExtraHosts": list(host.extra_hosts) or None,
            "ShmSize": host.shm_size,
            "Memory": host.memory,
            "MemorySwap": host.memory_swap,
            "CpuShares": host.cpu_shares,
            "CpuPeriod": host.cpu_period,
            "CpuQuota": host.cpu_quota,
            "CpusetCpus": host.cpuset_cpus,
            "CpusetMems": host.cpuset_mems,
            "CgroupParent": host.cgroup_parent,
            "Ulimits": list(host.ulimits) or None,
        }
        created = await self.containers.create_from(
            CreateRequest(config=config, host_config=host_config)
        )
        await asyncio.to_thread(self._journal, created.id, True)
        return Created(created.id, list(created.warnings))

    async def make_workdir(self, container_id: str, path: str) -> None:
        layers = self.containers.layers

        def mkdir() -> None:
            root = layers.mount(container_id)
            try:
                target = resolve_in_scope(root, path)
                if not os.path.isdir(target):
                    os.makedirs(target, mode=0o755, exist_ok=True)
            finally:
                layers.unmount(container_id)

        await asyncio.to_thread(mkdir)

    async def run_container(self, container_id: str, output: OutputFn) -> int:
        svc = self.containers
        exited = svc.waiters.on_exit(container_id)
        pending = svc.pending_attaches.wait_for_start(container_id)
        try:
            await svc.start(container_id)
            session = await pending
            if session is not None:
                try:
                    while (msg := await session.recv()) is not None:
                        await output(msg[0], msg[1])
                finally:
                    session.close()
            code, _ = await exited
            return code
        except asyncio.CancelledError:
            # the build was cancelled (client gone): dockerd removes the running step
            with contextlib.suppress(Exception):
                await asyncio.shield(self.remove_container(container_id))
            raise
        finally:
            svc.pending_attaches.cancel(container_id)

    async def remove_container(self, container_id: str) -> None:
        try:
            await self.containers.remove(container_id, force=True, volumes=True)
        except errdefs.NotFound:
            pass
        await asyncio.to_thread(self._journal, container_id, False)

    async def keep_container(self, container_id: str) -> None:
        await asyncio.to_thread(self._journal, container_id, False)

    # -- commits --------------------------------------------------------------------------
    def _parent_config(self, parent: str) -> ImageConfig:
        if not parent:
            return {"rootfs": {"type": "layers"}, "architecture": host_arch(), "os": "linux"}
        return self.images.config_of(parent)

    def _child(
        self, parent: str, c: Container | None, diff_id: str, step: CommitStep | CopyToLayer
    ) -> str:
        """The step's image over ``parent``'s layers plus ``diff_id``: its image ID."""
        raw, _ = child_image_config(
            self._parent_config(parent),
            c,
            parse_container_config(step.config),
            diff_id,
            step.author,
            "",
            container_config=parse_container_config(step.container_config, "container_config"),
        )
        return self.images.register(raw, parent=parent, built_locally=True)

    async def commit(self, req: CommitStep) -> str:
        c = self.containers.get(req.container_id)
        layers = self.containers.layers

        def work() -> str:
            layer = layers.commit(c.id)
            try:
                return self._child(c.image_id, c, layer.diff_id, req)
            finally:
                layers.release(layer.chain_id)

        # CommitBuildStep logs no container commit event (dockerd: "a temporary shim")
        return await asyncio.to_thread(work)

    def _chain_of(self, image_id: str) -> str | None:
        if not image_id:
            return None
        return chain_id(self.images.config_of(image_id)["rootfs"].get("diff_ids") or []) or None

    async def copy_to_layer(self, req: CopyToLayer) -> str:
        layers = self.containers.layers

        def work() -> str:
            name = LAYER_PREFIX + secrets.token_hex(16)
            chain = self._chain_of(req.parent)
            layers.create_rw_layer(name, chain, init_func=None)
            try:
                if req.parts:
                    root = layers.mount(name)
                    try:
                        copy_parts(root, req.parts, req.uid, req.gid)
                    finally:
                        layers.unmount(name)
                layer = layers.commit(name)
                try:
                    return self._child(req.parent, None, layer.diff_id, req)
                finally:
                    layers.release(layer.chain_id)
            finally:
                layers.release_rw_layer(name)

        return await asyncio.to_thread(work)

    async def mount_image(self, image_id: str) -> str:
        layers = self.containers.layers

        def mount() -> str:
            name = LAYER_PREFIX + "src-" + secrets.token_hex(16)
            layers.create_rw_layer(name, self._chain_of(image_id), init_func=None)
            try:
                path = layers.mount(name)
            except BaseException:
                layers.release_rw_layer(name)
                raise
            self._mounts[path] = name
            return path

        return await asyncio.to_thread(mount)

    async def unmount_image(self, path: str) -> None:
        name = self._mounts.pop(path, "")
        if not name:
            return
        layers = self.containers.layers

        def release() -> None:
            layers.unmount(name)
            layers.release_rw_layer(name)

        await asyncio.to_thread(release)

    # -- start-up -------------------------------------------------------------------------
    async def remove_leftovers(self) -> None:
        """What a daemon killed mid-build left: its containers and bare layers."""
        try:
            journalled = await asyncio.to_thread(os.listdir, self.journal)
        except FileNotFoundError:
            journalled = []
        for cid in journalled:
            try:
                await self.remove_container(cid)
                log.info("removed build container %s left by an interrupted build", cid[:12])
            except errdefs.BerthdError as exc:
                log.warning("could not remove build container %s: %s", cid[:12], exc)
        layers = self.containers.layers
        for name in list(layers.rw_layers()):
            if name.startswith(LAYER_PREFIX):
                with contextlib.suppress(errdefs.BerthdError):
                    await asyncio.to_thread(layers.release_rw_layer, name)
