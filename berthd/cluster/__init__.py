"""etcd for swarm mode: the supervised etcd process and its v3 JSON-gateway client.

berthd never implements consensus itself: a swarm's state, leases and
elections live in etcd 3.4 (Debian ``etcd-server``), which berthd starts on
private paths and loopback ports and supervises the way dockerd supervises
containerd. The swarm logic above it is ``berthd.daemon.cluster``.
"""

from __future__ import annotations

from berthd.cluster.client import (
    Compare,
    EtcdClient,
    EtcdError,
    KeyValue,
    Lease,
    Member,
    TxnOp,
    TxnResult,
)
from berthd.cluster.process import EtcdProcess, EtcdSettings

__all__ = [
    "Compare",
    "TxnResult",
    "EtcdClient",
    "EtcdError",
    "EtcdProcess",
    "EtcdSettings",
    "KeyValue",
    "Lease",
    "Member",
    "TxnOp",
]
