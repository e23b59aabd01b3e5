"""The network service: Docker's network API and the container network attacher."""

from __future__ import annotations

from berthd.daemon.networks.base import BridgeSettings
from berthd.daemon.networks.service import NetworksService

__all__ = ["BridgeSettings", "NetworksService"]
