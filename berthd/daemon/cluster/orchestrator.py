"""The leader's controllers: node liveness, orchestrators, restart supervisor, reaper.

Level-triggered and rebuilt from etcd at every pass; nothing is kept between passes,
so a new leader carries on where the old one stopped and restarts no task. Every
write to ``tasks/`` (and to node status) carries the election's fence.

- nodes: a node whose ``alive/<node>`` key is gone is ``down`` ("heartbeat failure",
  as SwarmKit's dispatcher), and ``ready`` again once its key is back;
- replicated services fill slots 1..Replicas, global ones one task per eligible node
  (ready, not drained, matching the constraints), replicated jobs run up to
  MaxConcurrent tasks until TotalCompletions have completed, global jobs one task to
  completion per eligible node; a job's tasks belong to its ``JobStatus.JobIteration``;
- a task whose slot, service, template or iteration is gone is set to desired
  ``shutdown``; so is a replicated task of a Down node (its node's agent removes the
  container when it comes back) or of a drained one, and its slot is refilled
  elsewhere (at once for a drained node);
- restart supervisor (SwarmKit manager/orchestrator/restart): a slot whose last task
  ended gets a new one after RestartPolicy.Delay (5 s), unless the condition
  (``any``/``on-failure``/``none``) says no or MaxAttempts restarts happened within
  Window (all of the slot's kept history when Window is 0);
- new tasks are placed by the scheduler; one that fits no node stays ``pending`` with
  its ``no suitable node (…)`` error and is placed again at each pass;
- reaper: a slot keeps TaskHistoryRetentionLimit (5) ended tasks; tasks of a removed
  service go once they ended or their node is Down.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from berthd.cluster import Compare
from berthd.daemon.cluster.heartbeat import alive_nodes
from berthd.daemon.cluster.ids import new_id
from berthd.daemon.cluster.scheduler import choose_node, node_matches, parse_constraints, running_on
from berthd.daemon.cluster.store import ObjectStore
from berthd.daemon.cluster.tasks import ENDED, service_template, slot_of, task_status
from berthd.errdefs import BerthdError
from berthd.lib.timefmt import format_ns, now_ns, parse_ns

__all__ = ["Orchestrator"]

log = logging.getLogger("berthd.cluster")

Slot = tuple[str, int | str]


def _mode(svc: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    mode = svc["Spec"].get("Mode") or {}
    for name in ("Replicated", "Global", "ReplicatedJob", "GlobalJob"):
        if name in mode:
            return name, mode[name] or {}
    return "Replicated", {"Replicas": 1}


def _iteration(svc: dict[str, Any]) -> int:
    return int(((svc.get("JobStatus") or {}).get("JobIteration") or {}).get("Index") or 0)


def _eligible(node: dict[str, Any], svc: dict[str, Any]) -> bool:
    """A global service's node: ready, active, matching the constraints."""
    placement = service_template(svc).get("Placement") or {}
    return (
        (node.get("Status") or {}).get("State") == "ready"
        and (node.get("Spec") or {}).get("Availability", "active") == "active"
        and node_matches(node, parse_constraints(placement.get("Constraints") or []))
    )


class Orchestrator:
    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    async def reconcile(self, fence: Compare) -> None:
        self.fence = fence
        nodes = await self._node_liveness(fence)
        services = {s["ID"]: s for s in await self.store.list("service")}
        tasks = await self.store.list("task")
        await self._orchestrate(services, tasks, nodes)
        tasks = await self.store.list("task")
        await self._schedule(services, tasks, nodes)
        await self._reap(services, await self.store.list("task"), nodes)

    async def _put(self, task: dict[str, Any]) -> bool:
        task["UpdatedAt"] = format_ns(now_ns())
        try:
            await self.store.update("task", task, task["Version"]["Index"], self.fence)
        except BerthdError:
            return False  # changed meanwhile, or no longer the leader
        return True

    # -- nodes ---------------------------------------------------------------------
    async def _node_liveness(self, fence: Compare) -> dict[str, dict[str, Any]]:
        alive = await alive_nodes(self.store.etcd)
        nodes = {}
        for node in await self.store.list("node"):
            state = (node.get("Status") or {}).get("State")
            want = "ready" if node["ID"] in alive else "down"
            if state != want:
                status = dict(node.get("Status") or {}, State=want)
                if want == "down":
                    status["Message"] = "heartbeat failure"
                else:
                    status.pop("Message", None)
                node["Status"] = status
                node["UpdatedAt"] = format_ns(now_ns())
                try:
                    version = node["Version"]["Index"]
                    node["Version"]["Index"] = await self.store.update("node", node, version, fence)
                except BerthdError:
                    pass
                log.info("swarm: node %s is %s", node["ID"], want)
            nodes[node["ID"]] = node
        return nodes

    # -- orchestrators and restart supervisor --------------------------------------------
    def _wanted(self, svc: dict[str, Any], nodes: dict[str, dict[str, Any]]) -> list[int | str]:
        kind, mode = _mode(svc)
        if kind == "Replicated":
            return list(range(1, int(mode.get("Replicas") or 0) + 1))
        if kind == "ReplicatedJob":
            return list(range(1, int(mode.get("TotalCompletions") or 0) + 1))
        return [nid for nid, n in nodes.items() if _eligible(n, svc)]

    async def _orchestrate(
        self,
        services: dict[str, dict[str, Any]],
        tasks: list[dict[str, Any]],
        nodes: dict[str, dict[str, Any]],
    ) -> None:
        wanted = {sid: set(self._wanted(svc, nodes)) for sid, svc in services.items()}
        live: dict[str, dict[int | str, dict[str, Any]]] = defaultdict(dict)
        history: dict[Slot, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
        for t in tasks:
            svc = services.get(t["ServiceID"])
            slot = slot_of(t)
            node = nodes.get(t.get("NodeID", ""))
            node_down = node is not None and (node.get("Status") or {}).get("State") == "down"
            drained = node is not None and (node.get("Spec") or {}).get("Availability") == "drain"
            state = t["Status"]["State"]
            if t["DesiredState"] == "running":
                global_kept = svc is not None and not isinstance(slot, int) and node_down
                if (
                    svc is None
                    or (slot not in wanted[svc["ID"]] and not global_kept)
                    or t["Spec"] != service_template(svc)
                    or t.get("JobIteration", {}).get("Index", 0) != _iteration(svc)
                    or state in ENDED
                    or ((node_down or drained) and isinstance(slot, int))
                ):
                    t["DesiredState"] = "shutdown"
                    await self._put(t)
                else:
                    live[t["ServiceID"]][slot] = t
                    continue
            if svc is None or t.get("JobIteration", {}).get("Index", 0) != _iteration(svc):
                continue
            if drained:  # moved off a drained node: no restart delay, as SwarmKit
                ended = 0
            elif state in ENDED:
                ended = parse_ns(t["Status"]["Timestamp"])
            elif node_down:  # lost with its node: ended when the node went Down
                ended = parse_ns((node or {}).get("UpdatedAt") or format_ns(now_ns()))
            else:
                continue
            history[(t["ServiceID"], slot)].append((ended, t))
        for svc in services.values():
            kind, mode = _mode(svc)
            slots = sorted(wanted[svc["ID"]], key=str)
            if kind == "ReplicatedJob":
                running = len(live[svc["ID"]])
                room = int(mode.get("MaxConcurrent") or 1) - running
                for slot in slots:
                    if room <= 0:
                        break
                    if slot in live[svc["ID"]] or self._completed(history[(svc["ID"], slot)]):
                        continue
                    if self._may_restart(svc, history[(svc["ID"], slot)]):
                        await self._new_task(svc, slot, nodes)
                        room -= 1
                continue
            for slot in slots:
                if slot in live[svc["ID"]]:
                    continue
                past = history[(svc["ID"], slot)]
                if kind == "GlobalJob" and self._completed(past):
                    continue
                if self._may_restart(svc, past):
                    await self._new_task(svc, slot, nodes)

    @staticmethod
    def _completed(past: list[tuple[int, dict[str, Any]]]) -> bool:
        return any(t["Status"]["State"] == "complete" for _, t in past)

    @staticmethod
    def _may_restart(svc: dict[str, Any], past: list[tuple[int, dict[str, Any]]]) -> bool:
        """The restart supervisor's decision for a slot whose last task ended."""
        if not past:
            return True
        policy = service_template(svc).get("RestartPolicy") or {}
        condition = policy.get("Condition") or "any"
        last_end, last = max(past, key=lambda p: p[0])
        if condition == "none":
            return False
        if condition == "on-failure" and last["Status"]["State"] == "complete":
            return False
        now = now_ns()
        if now - last_end < int(policy.get("Delay", 5_000_000_000)):
            return False
        attempts = int(policy.get("MaxAttempts") or 0)
        if attempts:
            # the restarts so far: every task of the slot but its first, those started
            # within Window when there is one (the reaped ones are not counted)
            window = int(policy.get("Window") or 0)
            created = sorted(parse_ns(t["CreatedAt"]) for _, t in past)[1:]
            if len([c for c in created if not window or now - c <= window]) >= attempts:
                return False
        return True

    async def _new_task(
        self, svc: dict[str, Any], slot: int | str, nodes: dict[str, dict[str, Any]]
    ) -> None:
        now = format_ns(now_ns())
        task: dict[str, Any] = {
            "ID": new_id(),
            "CreatedAt": now,
            "UpdatedAt": now,
            "Labels": {},
            "Spec": service_template(svc),
            "ServiceID": svc["ID"],
        }
        if isinstance(slot, int):
            task["Slot"] = slot  # a global service's tasks have none
        else:
            task["NodeID"] = slot
        task["Status"] = task_status("pending", "pending task scheduling")
        task["DesiredState"] = "running"
        if svc.get("JobStatus"):
            task["JobIteration"] = {"Index": _iteration(svc)}
        try:
            await self.store.create("task", task, fence=self.fence)
        except BerthdError:
            pass  # no longer the leader

    # -- scheduler --------------------------------------------------------------------
    async def _schedule(
        self,
        services: dict[str, dict[str, Any]],
        tasks: list[dict[str, Any]],
        nodes: dict[str, dict[str, Any]],
    ) -> None:
        placed = running_on(t for t in tasks if t["Status"]["State"] != "pending")
        for t in tasks:
            svc = services.get(t["ServiceID"])
            if svc is None or t["DesiredState"] != "running" or t["Status"]["State"] != "pending":
                continue
            candidates = list(nodes.values())
            if t.get("NodeID"):  # a global task: its own node or none
                candidates = [n for n in candidates if n["ID"] == t["NodeID"]]
            node_id, err = choose_node(t, svc, candidates, placed, services)
            if node_id:
                t["NodeID"] = node_id
                t["Status"] = task_status("assigned", "scheduler assigned task to node")
                if await self._put(t):
                    placed.append(t)
            elif t["Status"].get("Err") != err:
                t["Status"] = task_status("pending", "pending task scheduling", Err=err)
                await self._put(t)

    # -- reaper -------------------------------------------------------------------------
    async def _reap(
        self,
        services: dict[str, dict[str, Any]],
        tasks: list[dict[str, Any]],
        nodes: dict[str, dict[str, Any]],
    ) -> None:
        cluster = await self.store.get("cluster", "")
        orchestration = ((cluster or {}).get("Spec") or {}).get("Orchestration") or {}
        keep = int(orchestration.get("TaskHistoryRetentionLimit", 5))
        ended_by_slot: dict[Slot, list[dict[str, Any]]] = defaultdict(list)
        for t in tasks:
            node = nodes.get(t.get("NodeID", ""))
            gone = node is None or (node.get("Status") or {}).get("State") == "down"
            ended = t["Status"]["State"] in ENDED or (t["Status"]["State"] == "pending")
            if t["DesiredState"] == "running" or not (ended or gone):
                continue
            if t["ServiceID"] not in services:
                await self.store.remove("task", t["ID"], fence=self.fence)
                continue
            ended_by_slot[(t["ServiceID"], slot_of(t))].append(t)
        for ended in ended_by_slot.values():
            ended.sort(key=lambda t: parse_ns(t["Status"]["Timestamp"]), reverse=True)
            for t in ended[keep:]:
                await self.store.remove("task", t["ID"], fence=self.fence)
