"""``GET /images/json`` and the image part of ``/system/df``.

moby ``daemon/images/images.go``: rows newest first, ``Size`` is the whole layer chain,
``SharedSize`` (only when asked, it costs a pass over every image) is the part of that
chain some other image also uses, ``Containers`` is counted only for ``system df``;
-1 means "not computed", as in dockerd. Selection and filters are
``berthd.image.filters.list_images``.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from berthd.image.digest import chain_ids
from berthd.image.filters import list_images
from berthd.image.lookup import get_image
from berthd.lib.filters import FilterArgs

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["image_summaries", "layers_size"]


def _image_size(svc: ImageContext, chain: str) -> int:
    if not chain:
        return 0
    try:
        return svc.layers.total_size(chain)
    except Exception:  # a layer removed meanwhile: 0, like dockerd
        return 0


def image_summaries(
    svc: ImageContext,
    filters: FilterArgs,
    all_images: bool,
    shared_size: bool,
    container_count: bool = False,
) -> list[dict[str, Any]]:
    """The rows of ``docker images`` in dockerd's field order (newest API shape)."""
    names = filters.keys()
    fields = {k: sorted(filters.get(k)) for k in names}
    entries = list_images(
        svc.images,
        svc.references,
        fields,
        all_images,
        lambda ref: get_image(svc.images, svc.references, ref),
    )
    layer_users: Counter[str] = Counter()
    layer_sizes: dict[str, int] = {}
    if shared_size:
        for img in svc.images.map().values():
            for chain in chain_ids(img.config.rootfs.diff_ids):
                layer_users[chain] += 1
        layer_sizes = {c: layer.size for c, layer in svc.layers.layers().items()}
    rows: list[dict[str, Any]] = []
    for entry in entries:
        img = entry.image
        cfg = img.config
        none = entry.repo_tags == ["<none>:<none>"] and entry.repo_digests == ["<none>@<none>"]
        shared = -1
        if shared_size:
            shared = sum(
                layer_sizes.get(c, 0) for c in chain_ids(cfg.rootfs.diff_ids) if layer_users[c] > 1
            )
        containers = len(svc.containers_using(img.id)) if container_count else -1
        labels = cfg.labels() or None
        rows.append(
            {
                "Containers": containers,
                "Created": cfg.created_ns() // 1_000_000_000,
                "Id": img.id,
                "Labels": labels,
                "ParentId": img.parent,
                "RepoDigests": [] if none else entry.repo_digests,
                "RepoTags": [] if none else entry.repo_tags,
                "SharedSize": shared,
                "Size": _image_size(svc, cfg.chain_id()),
            }
        )
    return rows


def layers_size(svc: ImageContext) -> int:
    """``LayersSize`` of ``system df``: every layer's own size, once."""
    return sum(layer.size for layer in svc.layers.layers().values())
