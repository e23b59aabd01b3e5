"""What one node is given to run, and where it comes from.

A node's agent sees only its assignments, as a SwarmKit agent sees only what the
dispatcher sends it: the tasks the leader placed on the node, the services of those
tasks, and the secrets and configs that the tasks still to run reference. Nothing else
of the swarm (other nodes' tasks, unreferenced secrets, the cluster's keys and tokens)
is in them. A manager's agent reads its own from the store (``LocalSource``); a
worker's come from a manager's dispatcher over the swarm port
(``daemon/cluster/session.py``), built by the same ``assignments_of``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from berthd.daemon.cluster.store import ObjectStore

__all__ = ["Assignments", "LocalSource", "TaskSource", "assignments_of"]

_FILE_KINDS = ("secret", "config")


def _objects(raw: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(
        isinstance(o, dict) and isinstance(o.get("ID"), str) for o in raw
    ):
        raise ValueError(f"the assignments' {what} are not a list of objects")
    return raw


@dataclass
class Assignments:
    tasks: list[dict[str, Any]] = field(default_factory=list)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    # ("secret" | "config", ID) → the object, for the tasks' files
    files: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "Tasks": self.tasks,
            "Services": list(self.services.values()),
            "Secrets": [o for (k, _), o in self.files.items() if k == "secret"],
            "Configs": [o for (k, _), o in self.files.items() if k == "config"],
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Assignments:
        """ValueError when the answer is not assignments."""
        out = cls(
            tasks=_objects(raw.get("Tasks", []), "tasks"),
            services={s["ID"]: s for s in _objects(raw.get("Services", []), "services")},
        )
        for kind in _FILE_KINDS:
            for obj in _objects(raw.get(kind.title() + "s", []), kind + "s"):
                out.files[(kind, obj["ID"])] = obj
        return out


def _references(task: dict[str, Any]) -> list[tuple[str, str]]:
    spec = (task.get("Spec") or {}).get("ContainerSpec") or {}
    return [
        (kind, str(ref.get(kind.title() + "ID") or ""))
        for kind in _FILE_KINDS
        for ref in spec.get(kind.title() + "s") or []
    ]


async def assignments_of(store: ObjectStore, node_id: str) -> Assignments:
    """The node's assignments as the store has them now."""
    tasks = [t for t in await store.list("task") if t.get("NodeID") == node_id]
    wanted = {t["ServiceID"] for t in tasks}
    services = {s["ID"]: s for s in await store.list("service") if s["ID"] in wanted}
    refs = {r for t in tasks if t.get("DesiredState") == "running" for r in _references(t)}
    files: dict[tuple[str, str], dict[str, Any]] = {}
    for kind, oid in sorted(refs):
        obj = await store.get(kind, oid) if oid else None
        if obj is not None:
            files[(kind, oid)] = obj
    return Assignments(tasks, services, files)


class TaskSource(Protocol):
    """Where an agent reads its assignments and reports its tasks' status."""

    async def assignments(self) -> Assignments: ...

    async def put_status(self, task_id: str, status: dict[str, Any]) -> None: ...


class LocalSource:
    """A manager's agent: straight from the store."""

    def __init__(self, store: ObjectStore, node_id: str) -> None:
        self.store = store
        self.node_id = node_id

    async def assignments(self) -> Assignments:
        return await assignments_of(self.store, self.node_id)

    async def put_status(self, task_id: str, status: dict[str, Any]) -> None:
        await self.store.put_status(task_id, status)
