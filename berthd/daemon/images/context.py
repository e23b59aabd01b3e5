"""ImageContext: the stores and the event sink that the image verbs work on.

``ImageService`` builds one at start-up and hands it to each verb module
(``delete.py``, ``list.py``, ``pull.py``, ...). The verbs import this module and
never the service, so the service depends on its verbs and not the other way
round. Events raised from worker threads are handed to the event loop (the
events service is not thread-safe).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from berthd import errdefs
from berthd.daemon.events import EventsService
from berthd.image.delete import ContainerUse
from berthd.image.distribution_metadata import DistributionMetadataStore
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore
from berthd.layer import LayerStore

if TYPE_CHECKING:  # the distribution package loads on first pull or push
    from berthd.distribution.download import LayerDownloadManager
    from berthd.distribution.remote import RegistryClient
    from berthd.distribution.stores import Stores
    from berthd.distribution.upload import LayerUploadManager

__all__ = ["ContainersUsing", "ImageContext", "PullTransfer", "PushTransfer"]

ContainersUsing = Callable[[str], Sequence[ContainerUse]]


def _no_containers(image_id: str) -> list[ContainerUse]:
    return []


@dataclass
class ImageContext:
    """What every image verb may use; nothing else of the service."""

    driver_name: str
    images: ImageStore
    references: ReferenceStore
    layers: LayerStore
    distribution: DistributionMetadataStore
    tmp_dir: str
    events: EventsService
    containers_using: ContainersUsing = _no_containers
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def bind_loop(self) -> asyncio.AbstractEventLoop:
        """Remember the running loop: events from worker threads go there."""
        self.loop = asyncio.get_running_loop()
        return self.loop

    def emit(self, type_: str, action: str, actor: str, attrs: dict[str, str]) -> None:
        """Log an event from the loop or from a worker thread."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            if self.loop is not None:
                self.loop.call_soon_threadsafe(self.events.log, type_, action, actor, attrs)
                return
        self.events.log(type_, action, actor, attrs)

    def image_event(self, image_id: str, action: str, name: str | None = None) -> None:
        """dockerd's ``LogImageEvent``: the image's labels, plus ``name``."""
        attrs: dict[str, str] = {}
        try:
            attrs.update(self.images.get(image_id).config.labels())
        except errdefs.BerthdError:
            pass  # deleted already
        attrs["name"] = name if name is not None else image_id
        self.emit("image", action, image_id, attrs)


@dataclass(frozen=True)
class PullTransfer:
    """What a pull uses beside the context: the registry and the download manager."""

    registry: RegistryClient
    downloads: LayerDownloadManager
    stores: Stores


@dataclass(frozen=True)
class PushTransfer:
    """What a push uses beside the context: the registry and the upload manager."""

    registry: RegistryClient
    uploads: LayerUploadManager
    stores: Stores
