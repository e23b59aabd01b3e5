"""``GET /images/{name}/history``: ``docker history``.

moby ``daemon/images/image_history.go``: one row per history entry, newest first;
non-empty entries take the size of their layer; IDs and tags are filled in walking
the imagedb parent chain, the rest stay ``<missing>`` (true of every loaded image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from berthd import errdefs
from berthd.image.config import parse_time_ns
from berthd.image.digest import chain_id
from berthd.image.lookup import get_image

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["image_history"]


def _created(value: str) -> int:
    try:
        return parse_time_ns(value) // 1_000_000_000 if value else 0
    except ValueError:
        return 0


def image_history(svc: ImageContext, name: str) -> list[dict[str, Any]]:
    img = get_image(svc.images, svc.references, name)
    diff_ids = img.config.rootfs.diff_ids
    rows: list[dict[str, Any]] = []
    counter = 0
    for h in img.config.history:
        size = 0
        if not h.empty_layer:
            if counter >= len(diff_ids):
                raise errdefs.System("too many non-empty layers in History section")
            size = svc.layers.lookup(chain_id(diff_ids[: counter + 1])).size
            counter += 1
        rows.insert(
            0,
            {
                "Comment": h.comment,
                "Created": _created(h.created),
                "CreatedBy": h.created_by,
                "Id": "<missing>",
                "Size": size,
                "Tags": None,
            },
        )
    image_id = img.id
    for row in rows:
        row["Id"] = image_id
        tags = [r.familiar_string() for r in svc.references.references(image_id) if r.is_tagged]
        row["Tags"] = tags or None
        image_id = svc.images.get_parent(image_id)
        if not image_id or not svc.images.exists(image_id):
            break
    return rows
