"""The daemon's volume service (async) over ``berthd.volume``'s store."""

from __future__ import annotations

from berthd.daemon.volumes.service import EventLogger, VolumesService

__all__ = ["EventLogger", "VolumesService"]
