"""Volumes (L5): the store, the ``local`` driver and legacy volume plugins.

Blocking code, safe to call from worker threads; ``berthd.daemon.volumes``
is the async service on top of it.
"""

from __future__ import annotations

from berthd.volume.driver import Driver
from berthd.volume.local import LocalDriver
from berthd.volume.model import (
    ANONYMOUS_LABEL,
    DEFAULT_DRIVER,
    DriverVolume,
    Volume,
)
from berthd.volume.names import generate_name
from berthd.volume.plugins import PluginDirs
from berthd.volume.registry import DriverRegistry
from berthd.volume.store import CreateResult, VolumeStore
from berthd.volume.usage import directory_size

__all__ = [
    "ANONYMOUS_LABEL",
    "DEFAULT_DRIVER",
    "CreateResult",
    "Driver",
    "DriverRegistry",
    "DriverVolume",
    "LocalDriver",
    "PluginDirs",
    "Volume",
    "VolumeStore",
    "directory_size",
    "generate_name",
]
