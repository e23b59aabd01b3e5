"""A node changing role in place: ``docker node promote`` and ``docker node demote``.

A manager writes the new role into the node object; the node itself follows it
(``Cluster``'s role loop reads its own object every second), as a SwarmKit node
follows the role in its certificate. Manager == etcd voting member, so the change is
an etcd membership change made by the node whose role changes:

- demoted, a manager removes its own member (MemberRemove through its member, while it
  still counts for the quorum), stops its etcd, deletes its data, and goes on as a
  worker through another manager's client URL;
- promoted, a worker adds itself (MemberAdd of its peer URL through the manager it
  uses), starts its etcd with ``--initial-cluster-state existing`` and goes on as a
  manager. A start that fails removes the member again (through the other members,
  while they still have quorum) and the node stays a worker.

Its certificate stays the one it joined with (the OU is not checked: see
docs/architecture.md); its node ID, addresses and containers stay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import shutil
from pathlib import Path

from berthd.cluster import EtcdClient, EtcdError, EtcdProcess, EtcdSettings
from berthd.cluster.tls import NodeTLS
from berthd.daemon.cluster.membership import free_port, initial_cluster

__all__ = ["join_members", "leave_members", "undo_member"]

log = logging.getLogger("berthd.cluster")


async def leave_members(etcd: EtcdProcess, node_id: str) -> str:
    """Remove this node's member and stop its etcd; the client URL of a manager left
    (RuntimeError when there is none: the last manager is never demoted)."""
    client = etcd.client
    members = await client.member_list()
    others = [m for m in members if m.name != node_id and m.client_urls]
    if not others:
        raise RuntimeError("no other manager to go on with")
    for m in members:
        if m.name == node_id:
            await client.member_remove(m.id)
    await etcd.stop()
    await asyncio.to_thread(shutil.rmtree, etcd.settings.data_dir, True)
    return others[0].client_urls[0]


async def join_members(
    root: Path, node_id: str, host: str, tls: NodeTLS | None, via: EtcdClient
) -> EtcdProcess:
    """Add this node as a member (through ``via``, a manager's etcd) and start its etcd
    as one; the member is removed again when the start fails."""
    settings = EtcdSettings(root, node_id, free_port(host), free_port(host), host=host, tls=tls)
    _, members = await via.member_add(settings.peer_url)
    settings = dataclasses.replace(
        settings, initial_cluster=initial_cluster(members, node_id, settings.peer_url)
    )
    etcd = EtcdProcess(settings)
    try:
        await etcd.start()
    except BaseException:
        await etcd.stop()
        await undo_member(via, settings.peer_url)
        await asyncio.to_thread(shutil.rmtree, settings.data_dir, True)
        raise
    return etcd


async def undo_member(via: EtcdClient, peer_url: str) -> None:
    """Remove the member added for ``peer_url`` whose etcd never started (best effort:
    with the quorum counting it, as when it was the second member, etcd cannot)."""
    try:
        for m in await via.member_list():
            if peer_url in m.peer_urls:
                await via.member_remove(m.id)
                log.info("swarm: removed the member %s that did not start", peer_url)
    except EtcdError as e:
        log.warning("swarm: could not remove the member that did not start: %s", e)
