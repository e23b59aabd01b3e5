"""The daemon's image service: load, save, import, list, inspect, tag, rmi, prune."""

from __future__ import annotations

from berthd.daemon.images.service import ImageService

__all__ = ["ImageService"]
