"""The network service: Docker's network API and the container network attacher."""

from __future__ import annotations

from berthd.daemon.networks.service import NetworksService
from berthd.daemon.networks.state import BridgeSettings

__all__ = ["BridgeSettings", "NetworksService"]
