"""The one-node orchestrator/agent (berthd.daemon.cluster.agent) over an in-memory store."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

from berthd.daemon.cluster.agent import TaskAgent, container_body
from berthd.errdefs import System


class MemStore:
    """ObjectStore's verbs on a dict, with versions as a counter."""

    def __init__(self) -> None:
        self.objs: dict[tuple[str, str], dict[str, Any]] = {}
        self.rev = 0

    async def get(self, kind: str, oid: str) -> dict[str, Any] | None:
        obj = self.objs.get((kind, oid))
        return copy.deepcopy(obj) if obj else None

    async def list(self, kind: str) -> list[dict[str, Any]]:
        return [copy.deepcopy(o) for (k, _), o in sorted(self.objs.items()) if k == kind]

    async def create(self, kind: str, obj: dict[str, Any], name: str = "") -> int:
        self.rev += 1
        self.objs[(kind, obj.get("ID", ""))] = dict(obj, Version={"Index": self.rev})
        return self.rev

    async def update(self, kind: str, obj: dict[str, Any], version: int) -> int:
        key = (kind, obj.get("ID", ""))
        if self.objs[key]["Version"]["Index"] != version:
            raise System("update out of sequence")
        return await self.create(kind, obj)

    async def remove(self, kind: str, oid: str, name: str = "") -> None:
        self.objs.pop((kind, oid), None)


@dataclass
class FakeState:
    running: bool = True
    pid: int = 42
    exit_code: int = 0


class FakeRuntime:
    def __init__(self) -> None:
        self.containers: dict[str, FakeState] = {}
        self.bodies: dict[str, dict[str, Any]] = {}

    async def create(self, name: str, body: dict[str, Any]) -> str:
        self.containers[name] = FakeState(running=False)
        self.bodies[name] = body
        return name

    async def start(self, cid: str) -> None:
        self.containers[cid].running = True

    async def remove(self, cid: str) -> None:
        del self.containers[cid]

    def state(self, cid: str) -> FakeState | None:
        return self.containers.get(cid)


def service(sid: str, mode: dict[str, Any], **task: Any) -> dict[str, Any]:
    template = {
        "ContainerSpec": {"Image": "busybox", "Args": ["sleep", "9"]},
        "Runtime": "container",
    }
    template.update(task)
    return {"ID": sid, "Spec": {"Name": sid, "TaskTemplate": template, "Mode": mode}}


def setup(*services: dict[str, Any]) -> tuple[MemStore, FakeRuntime, TaskAgent]:
    store, rt = MemStore(), FakeRuntime()
    node = {"ID": "n1", "Spec": {"Role": "manager", "Availability": "active"}}
    asyncio.run(store.create("node", node))
    for s in services:
        asyncio.run(store.create("service", s))
    return store, rt, TaskAgent(store, "n1", rt)  # type: ignore[arg-type]


def running(store: MemStore) -> list[tuple[str, Any]]:
    tasks = asyncio.run(store.list("task"))
    return sorted(
        (t["ServiceID"], t.get("Slot", t["NodeID"]))
        for t in tasks
        if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
    )


def test_replicas_and_global_become_containers() -> None:
    store, rt, agent = setup(
        service("web", {"Replicated": {"Replicas": 2}}), service("mon", {"Global": {}})
    )
    asyncio.run(agent.reconcile())
    assert running(store) == [("mon", "n1"), ("web", 1), ("web", 2)]
    assert sorted(n.split(".")[0] + "." + n.split(".")[1] for n in rt.containers) == [
        "mon.n1",
        "web.1",
        "web.2",
    ]
    body = next(b for n, b in rt.bodies.items() if n.startswith("web.1."))
    assert body["Cmd"] == ["sleep", "9"]
    assert body["Labels"]["com.docker.swarm.service.name"] == "web"
    asyncio.run(agent.reconcile())  # idempotent
    assert len(rt.containers) == 3


def test_scale_down_update_and_remove() -> None:
    store, rt, agent = setup(service("web", {"Replicated": {"Replicas": 2}}))
    asyncio.run(agent.reconcile())
    svc = store.objs[("service", "web")]
    svc["Spec"]["Mode"]["Replicated"]["Replicas"] = 1
    asyncio.run(agent.reconcile())
    assert running(store) == [("web", 1)] and len(rt.containers) == 1
    old = next(iter(rt.containers))
    svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"] = ["sleep", "10"]
    asyncio.run(agent.reconcile())  # the old task stops first
    asyncio.run(agent.reconcile())
    assert running(store) == [("web", 1)] and old not in rt.containers
    assert next(iter(rt.bodies.values()))["Cmd"] in (["sleep", "9"], ["sleep", "10"])
    del store.objs[("service", "web")]
    asyncio.run(agent.reconcile())
    asyncio.run(agent.reconcile())
    assert rt.containers == {} and asyncio.run(store.list("task")) == []


def test_restart_policy_and_history() -> None:
    policy = {"Condition": "on-failure", "Delay": 0}
    store, rt, agent = setup(service("job", {"Replicated": {"Replicas": 1}}, RestartPolicy=policy))
    asyncio.run(agent.reconcile())
    for _ in range(8):  # the container fails every time: replaced each pass
        for state in rt.containers.values():
            state.running, state.exit_code = False, 1
        asyncio.run(agent.reconcile())
        asyncio.run(agent.reconcile())
    tasks = asyncio.run(store.list("task"))
    ended = [t for t in tasks if t["Status"]["State"] in ("failed", "shutdown")]
    assert len(ended) <= 5 and len(tasks) <= 6
    assert {t["Status"].get("Err") for t in ended if t["Status"]["State"] == "failed"} == {
        "task: non-zero exit (1)"
    }
    # a clean exit is not restarted under on-failure
    for state in rt.containers.values():
        state.running, state.exit_code = False, 0
    for _ in range(3):
        asyncio.run(agent.reconcile())
    assert running(store) == []


def test_drained_node_runs_nothing() -> None:
    store, rt, agent = setup(service("web", {"Replicated": {"Replicas": 2}}))
    asyncio.run(agent.reconcile())
    store.objs[("node", "n1")]["Spec"]["Availability"] = "drain"
    asyncio.run(agent.reconcile())
    assert running(store) == [] and rt.containers == {}


def test_container_body_stop_grace() -> None:
    svc = service("web", {"Replicated": {"Replicas": 1}})
    task = {
        "ID": "t1",
        "Slot": 1,
        "Spec": {"ContainerSpec": {"Image": "busybox", "StopGracePeriod": 3_000_000_000}},
    }
    body = container_body(svc, task, "n1")
    assert body["StopTimeout"] == 3 and body["Labels"]["com.docker.swarm.task.name"] == "web.1.t1"
