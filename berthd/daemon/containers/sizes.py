"""A container's sizes: ``SizeRw``/``SizeRootFs`` of ``docker ps -s`` and ``system df``."""

from __future__ import annotations

import contextlib

from berthd import errdefs
from berthd.layer import LayerStore

__all__ = ["container_sizes"]


def container_sizes(layers: LayerStore, cid: str) -> tuple[int, int]:
    """(SizeRw, SizeRootFs) of ``docker ps -s``/``system df`` (blocking).

    SizeRw is what the container wrote; SizeRootFs adds its image's layers.
    Either is 0 when it cannot be measured (the container is being removed).
    """
    rw = 0
    with contextlib.suppress(errdefs.BerthdError, OSError):
        rw = layers.rw_size(cid)
    image = 0
    with contextlib.suppress(errdefs.BerthdError, OSError):
        parent = layers.get_rw_layer(cid).parent
        if parent:
            image = layers.total_size(parent)
    return rw, rw + image
