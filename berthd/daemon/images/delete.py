"""``DELETE /images/{name}``: ``docker rmi``.

The rules (untag vs delete, conflicts, parent pruning) are
``berthd.image.delete.ImageDeleter``; this verb supplies the daemon's view of which
containers use an image and its event log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from berthd.image.delete import ImageDeleter

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["delete_image", "deleter"]


def deleter(svc: ImageContext) -> ImageDeleter:
    return ImageDeleter(svc.images, svc.references, svc.containers_using, svc.image_event)


def delete_image(svc: ImageContext, name: str, force: bool, prune: bool) -> list[dict[str, Any]]:
    return [item.to_json() for item in deleter(svc).delete(name, force=force, prune=prune)]
