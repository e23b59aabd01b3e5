"""Task placement, as SwarmKit's scheduler: filters, then spread.

Pure functions over node and task records. A node passes the filters in SwarmKit's
order: ready and active, enough unreserved NanoCPUs and MemoryBytes, the placement
constraints, the platforms, the host-mode published ports free, fewer than
MaxReplicas tasks of the service. Among the nodes left, placement preferences
(``spread=node.labels.x``) choose the label value with the fewest tasks of the service
first; then the node with the fewest tasks of the service, then the fewest tasks in
all. When no node is left, the task stays ``pending`` with SwarmKit's
``no suitable node (…)`` error, the failures counted per filter, most first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Constraint",
    "choose_node",
    "node_matches",
    "parse_constraints",
    "running_on",
]


@dataclass(frozen=True)
class Constraint:
    key: str
    equal: bool
    value: str


def parse_constraints(exprs: Iterable[str]) -> list[Constraint]:
    """``key==value`` / ``key!=value`` (validated when the service was created)."""
    out = []
    for expr in exprs:
        for op in ("==", "!="):
            if op in expr:
                key, value = expr.split(op, 1)
                out.append(Constraint(key.strip(), op == "==", value.strip()))
                break
    return out


def _node_value(node: dict[str, Any], key: str) -> str | None:
    desc = node.get("Description") or {}
    spec = node.get("Spec") or {}
    lowered = key.lower()
    simple = {
        "node.id": node.get("ID"),
        "node.hostname": desc.get("Hostname"),
        "node.role": spec.get("Role"),
        "node.platform.os": (desc.get("Platform") or {}).get("OS"),
        "node.platform.arch": (desc.get("Platform") or {}).get("Architecture"),
    }
    if lowered in simple:
        return simple[lowered]
    for prefix, labels in (
        ("node.labels.", spec.get("Labels") or {}),
        ("engine.labels.", (desc.get("Engine") or {}).get("Labels") or {}),
    ):
        if lowered.startswith(prefix):
            value = labels.get(key[len(prefix) :])
            return None if value is None else str(value)
    return None


def node_matches(node: dict[str, Any], constraints: list[Constraint]) -> bool:
    for c in constraints:
        value = _node_value(node, c.key)
        same = value is not None and value.lower() == c.value.lower()
        if same != c.equal:
            return False
    return True


def running_on(tasks: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks that hold a place on their node: assigned and not meant to stop."""
    return [t for t in tasks if t.get("NodeID") and t.get("DesiredState") == "running"]


def _reserved(task: dict[str, Any]) -> tuple[int, int]:
    r = ((task.get("Spec") or {}).get("Resources") or {}).get("Reservations") or {}
    return int(r.get("NanoCPUs") or 0), int(r.get("MemoryBytes") or 0)


def _platform_ok(node: dict[str, Any], platforms: list[dict[str, Any]]) -> bool:
    mine = (node.get("Description") or {}).get("Platform") or {}

    def arch(a: str) -> str:
        return "amd64" if a == "x86_64" else a

    return any(
        (not p.get("Architecture") or arch(p["Architecture"]) == arch(mine.get("Architecture", "")))
        and (not p.get("OS") or p["OS"] == mine.get("OS"))
        for p in platforms
    )


def _host_ports(task: dict[str, Any], svc: dict[str, Any]) -> set[tuple[str, int]]:
    ports = (svc.get("Spec", {}).get("EndpointSpec") or {}).get("Ports") or []
    return {
        (p.get("Protocol") or "tcp", int(p["PublishedPort"]))
        for p in ports
        if p.get("PublishMode") == "host" and p.get("PublishedPort")
    }


def _plural(n: int, what: str) -> str:
    return what.format(n=n, s="" if n == 1 else "s")


_EXPLAIN = {
    "ready": "{n} node{s} not available for new tasks",
    "resources": "insufficient resources on {n} node{s}",
    "constraints": "scheduling constraints not satisfied on {n} node{s}",
    "platform": "unsupported platform on {n} node{s}",
    "ports": "host-mode port already in use on {n} node{s}",
    "replicas": "max replicas per node limit exceed",
}


def choose_node(
    task: dict[str, Any],
    svc: dict[str, Any],
    nodes: list[dict[str, Any]],
    placed: list[dict[str, Any]],
    services: dict[str, dict[str, Any]] | None = None,
) -> tuple[str, str]:
    """The node ID for ``task`` and "", or "" and the ``no suitable node`` error.
    ``placed`` are the tasks already on nodes (``running_on``); ``services`` gives
    their services' published ports."""
    spec = task.get("Spec") or {}
    placement = spec.get("Placement") or {}
    constraints = parse_constraints(placement.get("Constraints") or [])
    platforms = placement.get("Platforms") or []
    max_replicas = int(placement.get("MaxReplicas") or 0)
    cpu, mem = _reserved(task)
    ports = _host_ports(task, svc)
    by_node: dict[str, list[dict[str, Any]]] = {}
    for t in placed:
        by_node.setdefault(t["NodeID"], []).append(t)

    def mine(n: dict[str, Any]) -> int:
        return sum(1 for t in by_node.get(n["ID"], []) if t["ServiceID"] == task["ServiceID"])

    def resources_ok(n: dict[str, Any]) -> bool:
        have = (n.get("Description") or {}).get("Resources") or {}
        used = [_reserved(t) for t in by_node.get(n["ID"], [])]
        free_cpu = int(have.get("NanoCPUs") or 0) - sum(c for c, _ in used)
        free_mem = int(have.get("MemoryBytes") or 0) - sum(m for _, m in used)
        return cpu <= free_cpu and mem <= free_mem

    def ports_ok(n: dict[str, Any]) -> bool:
        used: set[tuple[str, int]] = set()
        for t in by_node.get(n["ID"], []):
            other = (services or {}).get(t["ServiceID"])
            if other is not None:
                used |= _host_ports(t, other)
        return not (ports & used)

    checks: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
        (
            "ready",
            lambda n: (
                (n.get("Status") or {}).get("State") == "ready"
                and (n.get("Spec") or {}).get("Availability", "active") == "active"
            ),
        ),
        ("resources", resources_ok if cpu or mem else lambda n: True),
        ("constraints", lambda n: node_matches(n, constraints)),
        ("platform", (lambda n: _platform_ok(n, platforms)) if platforms else lambda n: True),
        ("ports", ports_ok if ports else lambda n: True),
        ("replicas", (lambda n: mine(n) < max_replicas) if max_replicas else lambda n: True),
    ]
    failures: dict[str, int] = {}
    fit = []
    for n in nodes:
        failed = next((name for name, check in checks if not check(n)), None)
        if failed is None:
            fit.append(n)
        else:
            failures[failed] = failures.get(failed, 0) + 1
    if not fit:
        if not failures:
            return "", "no suitable node"
        order = list(_EXPLAIN)
        ranked = sorted(failures.items(), key=lambda kv: (-kv[1], order.index(kv[0])))
        why = "; ".join(_plural(count, _EXPLAIN[name]) for name, count in ranked)
        return "", f"no suitable node ({why})"
    for pref in placement.get("Preferences") or []:
        label = ((pref or {}).get("Spread") or {}).get("SpreadDescriptor") or ""
        groups: dict[str | None, list[dict[str, Any]]] = {}
        for n in fit:
            groups.setdefault(_node_value(n, label), []).append(n)
        fit = min(groups.values(), key=lambda g: sum(mine(n) for n in g))
    best = min(fit, key=lambda n: (mine(n), len(by_node.get(n["ID"], [])), n["ID"]))
    return best["ID"], ""
