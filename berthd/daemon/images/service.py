"""ImageService: the image stores of NewDaemon, and what the routers ask of them.

It owns the image store (imagedb), the reference store (repositories.json)
and the distribution metadata store, all on top of the layer store. Every
store call is blocking and goes through ``asyncio.to_thread``; the verbs live
one per module next to this one and take the ``ImageContext`` (context.py)
this class builds once, never the service itself; this class only schedules
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import platform
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from berthd import errdefs
from berthd.config.model import DaemonConfig
from berthd.daemon.containers.deps import ResolvedImage
from berthd.daemon.events import EventsService
from berthd.daemon.images import delete as delete_verb
from berthd.daemon.images import history as history_verb
from berthd.daemon.images import import_ as import_verb
from berthd.daemon.images import inspect as inspect_verb
from berthd.daemon.images import list as list_verb
from berthd.daemon.images import load as load_verb
from berthd.daemon.images import prune as prune_verb
from berthd.daemon.images import save as save_verb
from berthd.daemon.images import tag as tag_verb
from berthd.daemon.images.bridge import BodyReader, ByteSource, ChunkSink, run_streaming
from berthd.daemon.images.context import ContainersUsing, ImageContext, PullTransfer, PushTransfer
from berthd.distribution.tempfiles import remove_temp_files
from berthd.image.distribution_metadata import DistributionMetadataStore
from berthd.image.fs_store import FSStoreBackend
from berthd.image.lookup import get_image
from berthd.image.reference import Reference
from berthd.image.reference_store import ReferenceStore
from berthd.image.spec import ImageConfig
from berthd.image.store import ImageStore
from berthd.layer import LayerStore
from berthd.lib.filters import FilterArgs

if TYPE_CHECKING:  # pull and push load on first use: start-up time matters
    from berthd.distribution.download import LayerDownloadManager
    from berthd.distribution.inspect import DistributionInspect
    from berthd.distribution.remote import RegistryClient
    from berthd.distribution.stores import Stores
    from berthd.distribution.upload import LayerUploadManager

__all__ = ["ContainersUsing", "ImageService"]

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def _no_config() -> DaemonConfig | None:
    return None


class ImageService:
    def __init__(
        self,
        data_root: str,
        layers: LayerStore,
        events: EventsService,
        containers_using: ContainersUsing | None = None,
        config: Callable[[], DaemonConfig | None] = _no_config,
    ) -> None:
        """Blocking (reads every image at start-up): construct in a thread."""
        self.driver_name = layers.driver.name
        root = os.path.join(data_root, "image", self.driver_name)
        self.root = root
        self.layers = layers
        self.events = events
        self.images = ImageStore(FSStoreBackend(os.path.join(root, "imagedb")), layers)
        self.references = ReferenceStore(os.path.join(root, "repositories.json"))
        self.distribution = DistributionMetadataStore(os.path.join(root, "distribution"))
        self.tmp_dir = os.path.join(data_root, "tmp")
        self.ctx = ImageContext(
            self.driver_name,
            self.images,
            self.references,
            layers,
            self.distribution,
            self.tmp_dir,
            events,
        )
        if containers_using is not None:
            self.ctx.containers_using = containers_using
        self._collect_orphan_layers()
        for name in remove_temp_files(self.tmp_dir):
            log.warning("removed %s that an interrupted pull left", name)
        self.registry: RegistryClient | None = None  # set by NewDaemon
        self._config = config
        self._defaults = DaemonConfig()

    @property
    def containers_using(self) -> ContainersUsing:
        return self.ctx.containers_using

    @containers_using.setter
    def containers_using(self, fn: ContainersUsing) -> None:
        """Set by NewDaemon once the container store exists."""
        self.ctx.containers_using = fn

    def _live_config(self) -> DaemonConfig:
        """Read at each use: SIGHUP reloads apply to the next transfer."""
        return self._config() or self._defaults

    @functools.cached_property
    def stores(self) -> Stores:
        from berthd.distribution.stores import Stores

        return Stores(self.images, self.references, self.layers, self.distribution, self.tmp_dir)

    @functools.cached_property
    def downloads(self) -> LayerDownloadManager:
        """The daemon-wide download manager (max-concurrent-downloads)."""
        from berthd.distribution.download import LayerDownloadManager

        return LayerDownloadManager(
            self.layers,
            lambda: self._live_config().max_concurrent_downloads,
            lambda: self._live_config().max_download_attempts,
        )

    @functools.cached_property
    def uploads(self) -> LayerUploadManager:
        """The daemon-wide upload manager (max-concurrent-uploads)."""
        from berthd.distribution.upload import LayerUploadManager

        return LayerUploadManager(lambda: self._live_config().max_concurrent_uploads)

    def _collect_orphan_layers(self) -> None:
        """Drop layers no image holds: what a load killed midway registered.

        The image store has taken its references by now; a read-only layer with no
        reference and nothing on top (no child layer, no container) belongs to no one.
        """
        for chain in list(self.layers.layers()):
            try:
                if self.layers.references(chain) or self.layers.dependents(chain):
                    continue
                self.layers.get(chain)
                removed = self.layers.release(chain)
            except errdefs.BerthdError:
                continue  # already collected with a child
            for layer in removed:
                log.warning("removed layer %s that no image uses", layer.chain_id)

    # -- events ------------------------------------------------------------------------
    def emit(self, type_: str, action: str, actor: str, attrs: dict[str, str]) -> None:
        """Log an event from the loop or from a worker thread."""
        self.ctx.emit(type_, action, actor, attrs)

    def image_event(self, image_id: str, action: str, name: str | None = None) -> None:
        """dockerd's ``LogImageEvent``: the image's labels, plus ``name``."""
        self.ctx.image_event(image_id, action, name)

    async def _run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking verb in a thread; its events reach this loop."""
        self.ctx.bind_loop()
        return await asyncio.to_thread(fn, *args, **kwargs)

    def _pull_transfer(self) -> PullTransfer:
        if self.registry is None:
            raise errdefs.NotImplemented_("no registry client configured")
        return PullTransfer(self.registry, self.downloads, self.stores)

    def _push_transfer(self) -> PushTransfer:
        if self.registry is None:
            raise errdefs.NotImplemented_("no registry client configured")
        return PushTransfer(self.registry, self.uploads, self.stores)

    # -- what the container code needs (ImageLookup) -------------------------------
    def resolve_image(self, ref: str) -> ResolvedImage:
        image = get_image(self.images, self.references, ref)
        cfg = image.config
        chain = cfg.rootfs.chain_id() if cfg.rootfs.diff_ids else None
        return ResolvedImage(id=image.id, config=cfg.config.copy(), chain_id=chain)

    def image_in_use(self, image_id: str) -> None:
        """Nothing to record: rmi asks the container store who uses an image."""

    def image_children(self, image_id: str) -> list[str]:
        return self.images.children(image_id)

    def config_of(self, image_id: str) -> ImageConfig:
        """Blocking: the config document of the image with this full ID (checked when
        read); ``errdefs.NotFound`` when there is none."""
        return self.images.get(image_id).config.doc

    def register(self, config: bytes, parent: str = "", built_locally: bool = False) -> str:
        """Blocking ``CreateImage``: store ``config`` over the layer chain its
        ``rootfs.diff_ids`` name (registered already; the caller still holds the top
        layer), link it to ``parent`` (an image since removed is no error), and mark an
        image built here as a build-cache candidate; return the image ID.

        ``config`` is bytes because they are the image's identity (the ID is their
        digest); they are parsed and checked here (``errdefs.InvalidParameter``)."""
        image_id = self.images.create(config)
        if parent:
            with contextlib.suppress(errdefs.NotFound):
                self.images.set_parent(image_id, parent)
        if built_locally:
            self.images.set_built_locally(image_id)
        return image_id

    def tag(self, image_id: str, ref: Reference) -> None:
        """Blocking ``TagImage`` (import, commit and the builder use it)."""
        tag_verb.add_tag(self.ctx, image_id, ref)

    # -- load / save / import (streams) ------------------------------------------------
    def load_images(self, body: ByteSource, quiet: bool) -> AsyncIterator[bytes]:
        loop = self.ctx.bind_loop()

        def work(sink: ChunkSink) -> None:
            with BodyReader(body, loop) as raw:
                load_verb.load_images(self.ctx, raw, sink, quiet)  # type: ignore[arg-type]

        return run_streaming(work)

    async def check_save(self, names: list[str]) -> None:
        await self._run(save_verb.check_names, self.ctx, names)

    def save_images(self, names: list[str]) -> AsyncIterator[bytes]:
        self.ctx.bind_loop()
        return run_streaming(
            lambda sink: save_verb.save_images(self.ctx, names, sink),  # type: ignore[arg-type]
            coalesce=True,
        )

    def import_image(
        self,
        src: str,
        body: ByteSource,
        repo: str,
        tag: str,
        message: str,
        changes: list[str],
    ) -> AsyncIterator[bytes]:
        """Validates first (an error before any output becomes an HTTP error)."""
        loop = self.ctx.bind_loop()
        arch = _GO_ARCH.get(platform.machine(), platform.machine())
        req = import_verb.prepare_import(src, repo, tag, message, changes, arch)

        def work(sink: ChunkSink) -> None:
            with BodyReader(body, loop) as raw:
                import_verb.import_image(self.ctx, req, raw, sink)  # type: ignore[arg-type]

        return run_streaming(work)

    async def pull_image(
        self,
        image: str,
        tag: str,
        platform: str,
        auth_header: str | None,
        meta_headers: Mapping[str, str],
    ) -> AsyncIterator[bytes]:
        """Checks the request first: an error before any output is an HTTP error."""
        from berthd.daemon.images import pull as pull_verb
        from berthd.distribution import platforms as plat
        from berthd.distribution.stream import run_progress
        from berthd.registry.auth_config import decode_auth_header

        self.ctx.bind_loop()
        ref = pull_verb.parse_pull_reference(image, tag)
        want = plat.parse(platform) if platform else None
        auth = decode_auth_header(auth_header)
        transfer = self._pull_transfer()
        async for chunk in run_progress(
            lambda out: pull_verb.pull_image(self.ctx, transfer, ref, want, auth, meta_headers, out)
        ):
            yield chunk

    async def push_image(
        self,
        name: str,
        tag: str,
        auth_header: str | None,
        auth_body: bytes,
        meta_headers: Mapping[str, str],
    ) -> AsyncIterator[bytes]:
        from berthd.daemon.images import push as push_verb
        from berthd.distribution.stream import run_progress

        self.ctx.bind_loop()
        auth = push_verb.parse_push_auth(auth_header, auth_body)
        ref = push_verb.parse_push_reference(name, tag)
        transfer = self._push_transfer()
        async for chunk in run_progress(
            lambda out: push_verb.push_image(self.ctx, transfer, ref, auth, meta_headers, out)
        ):
            yield chunk

    async def distribution_inspect(
        self, name: str, auth_header: str | None, meta_headers: Mapping[str, str]
    ) -> DistributionInspect:
        from berthd.daemon.images import distribution_inspect as distribution_inspect_verb

        return await distribution_inspect_verb.distribution_inspect(
            self.registry, name, auth_header, meta_headers
        )

    # -- queries and small verbs --------------------------------------------------------
    async def list_images(
        self, filters: FilterArgs, all_images: bool, shared_size: bool
    ) -> list[dict[str, Any]]:
        return await self._run(
            list_verb.image_summaries, self.ctx, filters, all_images, shared_size
        )

    async def inspect_image(self, name: str) -> dict[str, Any]:
        return await self._run(inspect_verb.inspect_image, self.ctx, name)

    async def image_history(self, name: str) -> list[dict[str, Any]]:
        return await self._run(history_verb.image_history, self.ctx, name)

    async def tag_image(self, name: str, repo: str, tag: str) -> None:
        await self._run(tag_verb.tag_image, self.ctx, name, repo, tag)

    async def delete_image(self, name: str, force: bool, prune: bool) -> list[dict[str, Any]]:
        return await self._run(delete_verb.delete_image, self.ctx, name, force, prune)

    async def prune_images(self, filters: FilterArgs) -> dict[str, Any]:
        return await self._run(prune_verb.prune_images, self.ctx, filters)

    # -- system counts and disk usage ----------------------------------------------------
    async def count(self) -> int:
        return len(self.images)

    async def disk_usage(self) -> tuple[int, list[dict[str, Any]]]:
        """``LayersSize`` and the ``Images`` rows of ``/system/df``."""

        def usage() -> tuple[int, list[dict[str, Any]]]:
            rows = list_verb.image_summaries(self.ctx, FilterArgs(), False, True, True)
            return list_verb.layers_size(self.ctx), rows

        return await self._run(usage)
