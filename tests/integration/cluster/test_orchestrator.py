"""The leader's controllers against a real etcd 3.4: election and fencing, heartbeat
leases and Down/Ready, replacement of a Down node's tasks, jobs, restart policy.

Nodes here are records (no second berthd runs): the orchestrator only reads them and
their liveness keys; the agents' part is played by writing ``status/<task>`` as a
node's agent does. The runtime itself is tested in test_swarm.py.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from berthd.cluster import EtcdProcess, EtcdSettings
from berthd.daemon.cluster.election import LeaderElection, leader_id
from berthd.daemon.cluster.heartbeat import Heartbeat
from berthd.daemon.cluster.orchestrator import Orchestrator
from berthd.daemon.cluster.store import ObjectStore
from berthd.daemon.cluster.tasks import task_status
from berthd.errdefs import BerthdError
from tests.integration.daemon_process import free_port

pytestmark = pytest.mark.skipif(not Path("/usr/bin/etcd").exists(), reason="needs etcd-server")

Scenario = Callable[[ObjectStore], Awaitable[None]]


def run(scenario: Scenario) -> None:
    root = Path(tempfile.mkdtemp(prefix="berthd-orch-it-"))

    async def main() -> None:
        etcd = EtcdProcess(EtcdSettings(root / "swarm", "n1", free_port(), free_port()))
        await etcd.start()
        try:
            await scenario(ObjectStore(etcd.client))
        finally:
            await etcd.stop()

    try:
        asyncio.run(main())
    finally:
        shutil.rmtree(root, ignore_errors=True)


def node(nid: str) -> dict[str, Any]:
    return {
        "ID": nid,
        "Spec": {"Role": "manager", "Availability": "active", "Labels": {}},
        "Description": {"Hostname": nid, "Platform": {"OS": "linux", "Architecture": "x86_64"}},
        "Status": {"State": "ready"},
    }


def service(sid: str, mode: dict[str, Any], **restart: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "ID": sid,
        "Spec": {
            "Name": sid,
            "Mode": mode,
            "TaskTemplate": {
                "ContainerSpec": {"Image": "busybox"},
                "RestartPolicy": {"Condition": "any", "Delay": 0, **restart},
            },
        },
    }
    if "ReplicatedJob" in mode or "GlobalJob" in mode:
        svc["JobStatus"] = {"JobIteration": {"Index": 0}}
    return svc


async def live(store: ObjectStore, sid: str) -> list[dict[str, Any]]:
    return [
        t
        for t in await store.list("task")
        if t["ServiceID"] == sid and t["DesiredState"] == "running"
    ]


async def finish(store: ObjectStore, task: dict[str, Any], state: str) -> None:
    """What the owning node's agent writes when the container exits."""
    await store.put_status(task["ID"], task_status(state, "finished"))


def test_election_fencing() -> None:
    async def scenario(store: ObjectStore) -> None:
        a, b = LeaderElection(store.etcd, "a"), LeaderElection(store.etcd, "b")
        assert await a.campaign_once() and not await b.campaign_once()
        assert await leader_id(store.etcd) == "a" and a.leading and not b.leading
        old = a.token
        svc = service("web", {"Replicated": {"Replicas": 1}})
        await store.create("service", svc, "web")
        await store.create("node", node("n1"))
        hb = Heartbeat(store.etcd, "n1", 1_000_000_000)
        await hb.beat()
        await Orchestrator(store).reconcile(old)
        assert len(await live(store, "web")) == 1
        await a.stop()  # resigns: the key goes with the lease
        assert await b.campaign_once() and b.token != old
        # a deposed leader's writes fail, its task creations too
        with pytest.raises(BerthdError):
            await store.create("task", {"ID": "x", "ServiceID": "web"}, fence=old)
        t = (await live(store, "web"))[0]
        with pytest.raises(BerthdError):
            await store.update("task", t, t["Version"]["Index"], old)
        assert not await store.remove("task", t["ID"], fence=old)
        # the new leader carries on from etcd: the running task stays
        await finish(store, t, "running")
        await Orchestrator(store).reconcile(b.token)
        assert [x["ID"] for x in await live(store, "web")] == [t["ID"]]
        await b.stop()
        await hb.stop()

    run(scenario)


def test_down_node_tasks_replaced_without_duplicates() -> None:
    async def scenario(store: ObjectStore) -> None:
        e = LeaderElection(store.etcd, "n1")
        assert await e.campaign_once()
        hbs = {n: Heartbeat(store.etcd, n, 1_000_000_000) for n in ("n1", "n2")}
        for n, hb in hbs.items():
            await store.create("node", node(n))
            await hb.beat()
            assert hb.ttl == 3
        await store.create("service", service("web", {"Replicated": {"Replicas": 2}}), "web")
        orch = Orchestrator(store)
        await orch.reconcile(e.token)  # creates, then places one per node (spread)
        tasks = await live(store, "web")
        assert sorted(t["NodeID"] for t in tasks) == ["n1", "n2"]
        assert {t["Status"]["State"] for t in tasks} == {"assigned"}
        for t in tasks:
            await finish(store, t, "running")
        await hbs["n2"].stop()  # n2 stops beating (revoked: no 3 s wait)
        await orch.reconcile(e.token)
        n2 = await store.get("node", "n2")
        assert n2 is not None and n2["Status"]["State"] == "down"
        assert n2["Status"]["Message"] == "heartbeat failure"
        tasks = await live(store, "web")
        assert sorted(t["NodeID"] for t in tasks) == ["n1", "n1"]
        old = [t for t in await store.list("task") if t["NodeID"] == "n2"]
        assert [(t["DesiredState"], t["Status"]["State"]) for t in old] == [("shutdown", "running")]
        await hbs["n2"].beat()  # back
        await orch.reconcile(e.token)
        n2 = await store.get("node", "n2")
        assert n2 is not None and n2["Status"]["State"] == "ready"
        assert "Message" not in n2["Status"]
        assert len(await live(store, "web")) == 2  # no duplicate once n2 is back
        # a drained node's tasks move at once (no restart delay for a drain, as SwarmKit)
        delayed = service("slow", {"Replicated": {"Replicas": 1}}, Delay=60_000_000_000)
        await store.create("service", delayed, "slow")
        await orch.reconcile(e.token)
        (t,) = await live(store, "slow")
        assert t["NodeID"] == "n2"  # fewest tasks in all
        await finish(store, t, "running")
        n2 = await store.get("node", "n2")
        assert n2 is not None
        n2["Spec"]["Availability"] = "drain"
        await store.update("node", n2, n2["Version"]["Index"])
        await orch.reconcile(e.token)
        (moved,) = await live(store, "slow")
        assert moved["NodeID"] == "n1" and moved["ID"] != t["ID"]
        await e.stop()
        for hb in hbs.values():
            await hb.stop()

    run(scenario)


def test_jobs_restart_policy_and_pending() -> None:
    async def scenario(store: ObjectStore) -> None:
        e = LeaderElection(store.etcd, "n1")
        assert await e.campaign_once()
        await store.create("node", node("n1"))
        hb = Heartbeat(store.etcd, "n1", 1_000_000_000)
        await hb.beat()
        job = service("job", {"ReplicatedJob": {"MaxConcurrent": 2, "TotalCompletions": 3}})
        await store.create("service", job, "job")
        orch = Orchestrator(store)
        await orch.reconcile(e.token)
        first = await live(store, "job")
        assert len(first) == 2 and all(t["JobIteration"] == {"Index": 0} for t in first)
        for t in first:
            await finish(store, t, "complete")
        await orch.reconcile(e.token)
        third = await live(store, "job")
        assert len(third) == 1
        await finish(store, third[0], "complete")
        await orch.reconcile(e.token)
        await orch.reconcile(e.token)
        assert await live(store, "job") == []
        done = [t for t in await store.list("task") if t["ServiceID"] == "job"]
        assert sorted(t["Status"]["State"] for t in done) == ["complete"] * 3
        # on-failure with MaxAttempts 2: a failing slot is tried 2 times, then left
        crash = service("crash", {"Replicated": {"Replicas": 1}}, Condition="on-failure")
        crash["Spec"]["TaskTemplate"]["RestartPolicy"]["MaxAttempts"] = 2
        await store.create("service", crash, "crash")
        ids = set()
        for _ in range(4):
            await orch.reconcile(e.token)
            for t in await live(store, "crash"):
                ids.add(t["ID"])
                await finish(store, t, "failed")
        assert len(ids) == 3  # the first run and 2 restarts
        # a constraint no node meets: pending with SwarmKit's explanation
        svc = service("nowhere", {"Replicated": {"Replicas": 1}})
        svc["Spec"]["TaskTemplate"]["Placement"] = {"Constraints": ["node.labels.x==y"]}
        await store.create("service", svc, "nowhere")
        await orch.reconcile(e.token)
        (t,) = await live(store, "nowhere")
        assert t["Status"]["State"] == "pending" and "NodeID" not in t
        assert t["Status"]["Err"] == (
            "no suitable node (scheduling constraints not satisfied on 1 node)"
        )
        await e.stop()
        await hb.stop()

    run(scenario)
