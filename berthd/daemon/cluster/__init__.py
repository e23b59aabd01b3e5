"""Swarm membership: inactive, or the manager of a one-node swarm kept in etcd (issue 18)."""

from __future__ import annotations

from berthd.daemon.cluster.cluster import Cluster
from berthd.daemon.cluster.inactive import InactiveCluster, inactive_info

__all__ = ["Cluster", "InactiveCluster", "inactive_info"]
