"""What the orchestrator and the agents share about a task: states, slot, name, status."""

from __future__ import annotations

from typing import Any

from berthd.lib.timefmt import format_ns, now_ns

__all__ = ["ENDED", "service_template", "slot_of", "task_name", "task_status"]

ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")


def service_template(svc: dict[str, Any]) -> dict[str, Any]:
    """The task spec a service's tasks carry: its TaskTemplate without Runtime."""
    spec = dict(svc["Spec"].get("TaskTemplate") or {})
    spec.pop("Runtime", None)
    return spec


def slot_of(task: dict[str, Any]) -> int | str:
    """A replicated task's slot number; a global task's node ID."""
    return int(task["Slot"]) if task.get("Slot") else str(task.get("NodeID", ""))


def task_name(svc: dict[str, Any], task: dict[str, Any]) -> str:
    """``<service>.<slot>.<task>``, a global service's tasks named by node instead."""
    return f"{svc['Spec']['Name']}.{slot_of(task)}.{task['ID']}"


def task_status(state: str, message: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Timestamp": format_ns(now_ns()), "State": state, "Message": message}
    out.update(extra)
    out.setdefault("PortStatus", {})
    return out
