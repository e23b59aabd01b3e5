"""Layer store and graph drivers (moby's ``layer/`` and ``daemon/graphdriver``).

Start with :func:`new_driver` and :class:`LayerStore`; async code wraps the
store in :class:`AsyncLayerStore`.
"""

from __future__ import annotations

from .aio import AsyncLayerStore
from .digest import chain_id, chain_ids
from .driver import Driver
from .drivers import DRIVERS, new_driver, overlay_supported
from .initlayer import setup_init_layer
from .overlay2 import Overlay2Driver
from .store import Layer, LayerStore, Metadata, RWLayer
from .vfs import VfsDriver

__all__ = [
    "DRIVERS",
    "AsyncLayerStore",
    "Driver",
    "Layer",
    "LayerStore",
    "Metadata",
    "Overlay2Driver",
    "RWLayer",
    "VfsDriver",
    "chain_id",
    "chain_ids",
    "new_driver",
    "overlay_supported",
    "setup_init_layer",
]
