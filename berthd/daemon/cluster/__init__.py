"""Swarm membership: today only the inactive cluster of a node in no swarm."""

from __future__ import annotations

from berthd.daemon.cluster.inactive import InactiveCluster, inactive_info

__all__ = ["InactiveCluster", "inactive_info"]
