"""``POST /images/prune``: ``docker image prune``.

``berthd.image.prune.ImagePruner`` picks and deletes; the space reclaimed is the size of
the layers that actually went, measured from the layer sizes taken before. dockerd logs
one ``prune`` event carrying ``reclaimed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from berthd.daemon.images.delete import deleter
from berthd.image.prune import ImagePruner
from berthd.lib.filters import FilterArgs

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["prune_images"]


def prune_images(svc: ImageContext, filters: FilterArgs) -> dict[str, Any]:
    names = filters.keys()
    fields = {k: sorted(filters.get(k)) for k in names}
    sizes = {chain: layer.size for chain, layer in svc.layers.layers().items()}
    pruner = ImagePruner(svc.images, svc.references, deleter(svc))
    report = pruner.prune(fields, sizes)
    svc.emit("image", "prune", "", {"reclaimed": str(report.space_reclaimed)})
    return report.to_json()
