"""ImageService: the image stores of NewDaemon, and what the routers ask of them.

It owns the image store (imagedb), the reference store (repositories.json)
and the distribution metadata store, all on top of the layer store. Every
store call is blocking and goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import os

from berthd.daemon.containers.deps import ResolvedImage
from berthd.daemon.events import EventsService
from berthd.image.distribution_metadata import DistributionMetadataStore
from berthd.image.fs_store import FSStoreBackend
from berthd.image.lookup import get_image
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore
from berthd.layer import LayerStore

__all__ = ["ImageService"]


class ImageService:
    def __init__(self, data_root: str, layers: LayerStore, events: EventsService) -> None:
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

    # -- what the container code needs (ImageLookup) -------------------------------
    def resolve_image(self, ref: str) -> ResolvedImage:
        image = get_image(self.images, self.references, ref)
        cfg = image.config
        chain = cfg.rootfs.chain_id() if cfg.rootfs.diff_ids else None
        return ResolvedImage(id=image.id, config=dict(cfg.config), chain_id=chain)

    def image_in_use(self, image_id: str) -> None:
        """Nothing to record: rmi asks the container store who uses an image."""
