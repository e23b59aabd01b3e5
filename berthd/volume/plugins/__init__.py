"""Legacy (v1) volume plugins: discovery, the HTTP client, the VolumeDriver adapter."""

from __future__ import annotations

from berthd.volume.plugins.adapter import PluginDriver, activate
from berthd.volume.plugins.client import PluginClient, PluginError
from berthd.volume.plugins.discovery import PluginAddr, PluginDirs, find_plugin, scan_plugins

__all__ = [
    "PluginAddr",
    "PluginClient",
    "PluginDirs",
    "PluginDriver",
    "PluginError",
    "activate",
    "find_plugin",
    "scan_plugins",
]
