"""The verbs on a swarm's nodes, services, tasks, secrets and configs (a manager's controlapi).

Lookups go as dockerd's ``daemon/cluster/helpers.go``: the full ID, then the
name (a node's hostname), then a unique ID prefix. Writes go through the
versioned ``ObjectStore``. Tasks are records only in this phase: nothing
schedules or runs them yet, so the list is empty.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from typing import Any, Protocol

from berthd.cluster import EtcdError
from berthd.daemon.cluster.election import leader_id
from berthd.daemon.cluster.heartbeat import alive_nodes
from berthd.daemon.cluster.ids import new_id
from berthd.daemon.cluster.specs import (
    insert_service_defaults,
    normalize_service_spec,
    rpc_error,
    validate_data_object,
    validate_service_spec,
)
from berthd.daemon.cluster.store import ObjectStore
from berthd.errdefs import InvalidParameter, NotFound, NotImplemented_, System
from berthd.lib.filters import FilterArgs
from berthd.lib.timefmt import format_ns, now_ns

__all__ = ["EventLog", "SwarmObjects"]


class EventLog(Protocol):
    """The events service's ``log`` (swarm events have the scope ``swarm``)."""

    def __call__(
        self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str], scope: str
    ) -> object: ...


_FILTERS: dict[str, tuple[str, ...]] = {
    "node": ("id", "label", "membership", "name", "node.label", "role"),
    "service": ("id", "label", "mode", "name", "runtime"),
    "task": (
        "desired-state",
        "id",
        "label",
        "name",
        "node",
        "service",
        "runtime",
        "_up-to-date",
    ),
    "secret": ("id", "label", "name", "names"),
    "config": ("id", "label", "name", "names"),
}


def _name(kind: str, obj: dict[str, Any]) -> str:
    if kind == "node":
        return str((obj.get("Description") or {}).get("Hostname") or "")
    return str((obj.get("Spec") or {}).get("Name") or "")


def _service_mode(spec: dict[str, Any]) -> str:
    mode = spec.get("Mode") or {}
    for key, name in (
        ("Global", "global"),
        ("ReplicatedJob", "replicated-job"),
        ("GlobalJob", "global-job"),
    ):
        if key in mode:
            return name
    return "replicated"


def _matches(kind: str, obj: dict[str, Any], f: FilterArgs) -> bool:
    spec = obj.get("Spec") or {}
    name = _name(kind, obj)
    if not f.fuzzy_match("id", obj["ID"]):
        return False
    if f.contains("name") and not any(name.startswith(v) for v in f.get("name")):
        return False
    if f.contains("names") and name not in f.get("names"):
        return False
    if not f.match_kv_list("label", spec.get("Labels") or {}):
        return False
    if kind == "service":
        if not f.exact_match("mode", _service_mode(spec)):
            return False
        if not f.exact_match("runtime", "container"):
            return False
    if kind == "node":
        if not f.exact_match("role", spec.get("Role", "")):
            return False
        if not f.exact_match("membership", spec.get("Membership", "accepted")):
            return False
        labels = (obj.get("Description") or {}).get("Engine", {}).get("Labels") or {}
        if not f.match_kv_list("label", labels) or not f.match_kv_list(
            "node.label", spec.get("Labels") or {}
        ):
            return False
    return True


def _service_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    """dockerd's update event attributes: image and replica count, old and new."""
    out: dict[str, str] = {}
    image = (old.get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Image", "")
    new_image = (new.get("TaskTemplate") or {}).get("ContainerSpec", {}).get("Image", "")
    if image != new_image:
        out["image.old"], out["image.new"] = image, new_image
    replicas = (old.get("Mode") or {}).get("Replicated", {}).get("Replicas")
    new_replicas = (new.get("Mode") or {}).get("Replicated", {}).get("Replicas")
    if replicas is not None and new_replicas is not None and replicas != new_replicas:
        out["replicas.old"], out["replicas.new"] = str(replicas), str(new_replicas)
    return out


class SwarmObjects:
    """Nodes, services, tasks, secrets and configs of one swarm, kept in etcd."""

    def __init__(self, store: ObjectStore, node_id: str, events: EventLog) -> None:
        self.store = store
        self.node_id = node_id
        self._event = events

    # -- lookups ------------------------------------------------------------------
    async def find(self, kind: str, ref: str) -> dict[str, Any]:
        obj = await self.store.get(kind, ref) if ref and "/" not in ref else None
        if obj is not None:
            return obj
        every = await self.store.list(kind)
        if kind != "task":
            named = [o for o in every if _name(kind, o) == ref]
            if len(named) == 1:
                return named[0]
        found = [o for o in every if ref and o["ID"].startswith(ref)]
        if not found:
            raise NotFound(f"{kind} {ref} not found")
        if len(found) > 1:
            raise InvalidParameter(f"{kind} {ref} is ambiguous ({len(found)} matches found)")
        return found[0]

    async def list_of(
        self, kind: str, filters: FilterArgs, status: bool = False
    ) -> list[dict[str, Any]]:
        filters.validate(_FILTERS[kind])
        out = [self._shown(kind, o) for o in await self.store.list(kind)]
        if kind == "task":
            return await self._tasks(out, filters)
        if kind == "node":
            await self._manager_status(out)
        out = [o for o in out if _matches(kind, o, filters)]
        if kind == "service" and status:
            await self._service_status(out)
        return out

    async def _service_status(self, services: list[dict[str, Any]]) -> None:
        """``?status=true``: running, desired and completed task counts per service."""
        tasks = await self.store.list("task")
        nodes = len(await self.store.list("node"))
        for svc in services:
            mine = [t for t in tasks if t["ServiceID"] == svc["ID"]]
            mode = svc["Spec"].get("Mode") or {}
            if "Replicated" in mode:
                desired = int((mode["Replicated"] or {}).get("Replicas") or 0)
            elif "Global" in mode:
                desired = nodes
            else:
                desired = sum(1 for t in mine if t["DesiredState"] == "running")
            svc["ServiceStatus"] = {
                "RunningTasks": sum(
                    1
                    for t in mine
                    if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
                ),
                "DesiredTasks": desired,
                "CompletedTasks": sum(1 for t in mine if t["Status"]["State"] == "complete"),
            }

    async def _tasks(self, tasks: list[dict[str, Any]], f: FilterArgs) -> list[dict[str, Any]]:
        """Task filters as dockerd resolves them: services and nodes by ID, name or prefix."""
        services = {s["ID"]: s for s in await self.store.list("service")}
        wanted: set[str] | None = None
        if f.contains("service"):
            wanted = {(await self.find("service", ref))["ID"] for ref in f.get("service")}
        nodes: set[str] | None = None
        if f.contains("node"):
            nodes = {(await self.find("node", ref))["ID"] for ref in f.get("node")}
        out = []
        for t in tasks:
            svc = services.get(t["ServiceID"])
            name = f"{svc['Spec']['Name']}.{t.get('Slot')}" if svc else ""
            if wanted is not None and t["ServiceID"] not in wanted:
                continue
            if nodes is not None and t.get("NodeID") not in nodes:
                continue
            if not f.fuzzy_match("id", t["ID"]) or not f.exact_match(
                "desired-state", t["DesiredState"]
            ):
                continue
            if f.contains("name") and not any(name.startswith(v) for v in f.get("name")):
                continue
            # SwarmKit matches a task's labels filter on its service's labels
            service_labels = (svc["Spec"].get("Labels") or {}) if svc else {}
            if not f.match_kv_list("label", service_labels):
                continue
            out.append(t)
        return out

    async def get(self, kind: str, ref: str, insert_defaults: bool) -> dict[str, Any]:
        obj = self._shown(kind, await self.find(kind, ref))
        if kind == "node":
            await self._manager_status([obj])
        if kind == "service" and insert_defaults:
            obj["Spec"] = insert_service_defaults(obj["Spec"])
        return obj

    async def _manager_status(self, nodes: list[dict[str, Any]]) -> None:
        """A manager's ``Leader`` is the elected leader (the ``leader`` key) and its
        ``Reachability`` its heartbeat; what is stored stands while neither exists yet
        (no node loop has run)."""
        local = await self.store.leaderless()
        try:
            # without quorum the leader key's lease cannot expire: no node is shown Leader
            leader = "" if local else await leader_id(self.store.etcd)
            alive = await alive_nodes(self.store.etcd, local)
        except EtcdError:
            return
        for n in nodes:
            status = n.get("ManagerStatus")
            if not status:
                continue
            if leader == n["ID"]:
                status["Leader"] = True
            elif leader or local:
                status.pop("Leader", None)  # omitempty in dockerd's types
            if alive:
                status["Reachability"] = "reachable" if n["ID"] in alive else "unreachable"

    @staticmethod
    def _shown(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        if kind == "secret":
            obj["Spec"].pop("Data", None)  # a secret's data never leaves the swarm's store
        return obj

    # -- creates ------------------------------------------------------------------
    async def create(self, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
        now = format_ns(now_ns())
        oid = new_id()
        if kind == "service":
            validate_service_spec(spec)
            await self._check_references(spec)
            spec = normalize_service_spec(spec)
            obj: dict[str, Any] = {
                "ID": oid,
                "CreatedAt": now,
                "UpdatedAt": now,
                "Spec": spec,
                # dockerd's answer before its allocator runs (phase 2 allocates)
                "Endpoint": {"Spec": {}},
            }
            if {"ReplicatedJob", "GlobalJob"} & set(spec.get("Mode") or {}):
                obj["JobStatus"] = {"JobIteration": {"Index": 0}, "LastExecution": now}
        elif kind in ("secret", "config"):
            data = validate_data_object(kind, spec)
            stored = dict(spec)
            stored["Labels"] = stored.get("Labels") or {}
            stored["Data"] = base64.b64encode(data).decode()
            obj = {"ID": oid, "CreatedAt": now, "UpdatedAt": now, "Spec": stored}
        else:
            raise InvalidParameter(f"cannot create a {kind}")
        name = str(spec.get("Name") or "")
        await self.store.create(kind, obj, name)
        self._event(kind, "create", oid, {"name": name}, "swarm")
        return {"ID": oid}

    async def _check_references(self, spec: dict[str, Any]) -> None:
        """Secrets and configs must exist; networks are named by ID, as dockerd
        rewrites them (a name or ID prefix in, the network's ID stored)."""
        attachments = [
            *((spec.get("TaskTemplate") or {}).get("Networks") or []),
            *(spec.get("Networks") or []),
        ]
        if attachments:
            nets = await self.store.list("network")
            for attachment in attachments:
                target = str(attachment.get("Target") or "")
                found = (
                    [n for n in nets if n["Id"] == target]
                    or [n for n in nets if n["Name"] == target]
                    or [n for n in nets if target and n["Id"].startswith(target)]
                )
                if len(found) != 1:
                    raise NotFound(f"network {target} not found")
                attachment["Target"] = found[0]["Id"]
        container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
        for kind in ("secret", "config"):
            refs = container.get(kind.title() + "s") or []
            if not refs:
                continue
            have = {o["ID"] for o in await self.store.list(kind)}
            missing = [
                r.get(kind.title() + "Name", "")
                for r in refs
                if r.get(kind.title() + "ID") not in have
            ]
            if missing:
                what = kind if len(missing) == 1 else kind + "s"
                raise rpc_error(InvalidParameter, f"{what} not found: {', '.join(missing)}")

    # -- updates ------------------------------------------------------------------
    async def update(
        self, kind: str, ref: str, version: int, spec: dict[str, Any], options: Mapping[str, str]
    ) -> dict[str, Any] | None:
        obj = await self.find(kind, ref)
        if kind == "service":
            await self._update_service(obj, version, spec, options.get("rollback", ""))
            return {"Warnings": None}  # dockerd's ServiceUpdateResponse: never omitted
        if kind == "node":
            await self._update_node(obj, version, spec)
            return None
        if kind in ("secret", "config"):
            old = obj["Spec"]
            if spec.get("Name") != old.get("Name") or (spec.get("Data") or "") not in (
                "",
                old.get("Data") if kind == "config" else "",
            ):
                raise rpc_error(InvalidParameter, "only updates to Labels are allowed")
            obj["Spec"] = dict(old, Labels=spec.get("Labels") or {})
            await self._write(kind, obj, version)
            return None
        raise InvalidParameter(f"cannot update a {kind}")

    async def _write(
        self, kind: str, obj: dict[str, Any], version: int, changes: Mapping[str, str] | None = None
    ) -> None:
        obj["UpdatedAt"] = format_ns(now_ns())
        await self.store.update(kind, obj, version)
        attrs = {"name": _name(kind, obj), **(changes or {})}
        self._event(kind, "update", obj["ID"], attrs, "swarm")

    async def _update_service(
        self, obj: dict[str, Any], version: int, spec: dict[str, Any], rollback: str
    ) -> None:
        current = obj["Spec"]
        if rollback not in ("", "none", "previous"):
            raise System(f"unrecognized rollback option {rollback}")
        if rollback == "previous":
            previous = obj.get("PreviousSpec")
            if previous is None:
                raise System("service does not have a previous spec")
            new_spec = copy.deepcopy(previous)
        else:
            validate_service_spec(spec)
            await self._check_references(spec)
            new_spec = normalize_service_spec(spec)
        if new_spec.get("Name") != current.get("Name"):
            raise rpc_error(NotImplemented_, "renaming services is not supported", "Unimplemented")
        if _service_mode(new_spec) != _service_mode(current):
            raise rpc_error(NotImplemented_, "service mode change is not allowed", "Unimplemented")
        obj["PreviousSpec"] = current
        obj["Spec"] = new_spec
        if "JobStatus" in obj:  # an update runs a job again: a new iteration
            obj["JobStatus"] = {
                "JobIteration": {"Index": version},
                "LastExecution": format_ns(now_ns()),
            }
        await self._write("service", obj, version, _service_changes(current, new_spec))

    async def _update_node(self, obj: dict[str, Any], version: int, spec: dict[str, Any]) -> None:
        role = spec.get("Role") or "worker"
        availability = spec.get("Availability") or "active"
        if role not in ("manager", "worker"):
            raise InvalidParameter(f'invalid Role: "{role}"')
        if availability not in ("active", "pause", "drain"):
            raise InvalidParameter(f'invalid Availability: "{availability}"')
        if obj["Spec"].get("Role") == "manager" and role == "worker":
            managers = [
                n for n in await self.store.list("node") if n["Spec"].get("Role") == "manager"
            ]
            if len(managers) <= 1:
                raise rpc_error(
                    InvalidParameter,
                    "attempting to demote the last manager of the swarm",
                    "FailedPrecondition",
                )
        if obj["Spec"].get("Role") == "manager" and role == "worker":
            # the node follows (berthd/daemon/cluster/roles.py): it leaves etcd's members
            obj.pop("ManagerStatus", None)
        changes = {}
        for field, new in (("availability", availability), ("role", role)):
            old = obj["Spec"].get(field.title(), "")
            if old != new:
                changes[f"{field}.old"], changes[f"{field}.new"] = old, new
        obj["Spec"] = {
            "Labels": spec.get("Labels") or {},
            "Role": role,
            "Availability": availability,
        }
        if spec.get("Name"):
            obj["Spec"]["Name"] = spec["Name"]
        await self._write("node", obj, version, changes)

    # -- removes ------------------------------------------------------------------
    async def remove(self, kind: str, ref: str, force: bool) -> None:
        obj = await self.find(kind, ref)
        oid, name = obj["ID"], _name(kind, obj)
        if kind == "node":
            if obj["Spec"].get("Role") == "manager" or obj.get("ManagerStatus"):
                raise rpc_error(
                    InvalidParameter,
                    f"node {oid} is a cluster manager and is a member of the raft cluster. "
                    "It must be demoted to worker before removal",
                    "FailedPrecondition",
                )
            if not force and (obj.get("Status") or {}).get("State") != "down":
                raise rpc_error(
                    InvalidParameter,
                    f"node {oid} is not down and can't be removed",
                    "FailedPrecondition",
                )
        if kind in ("secret", "config"):
            users = await self._users(kind, oid)
            if users:
                what = "service" if len(users) == 1 else "services"
                raise rpc_error(
                    InvalidParameter,
                    f"{kind} '{name}' is in use by the following {what}: {', '.join(users)}",
                )
        if kind == "task":
            raise InvalidParameter("tasks cannot be removed")  # no route removes one
        await self.store.remove(kind, oid, name)
        self._event(kind, "remove", oid, {"name": name}, "swarm")

    async def _users(self, kind: str, oid: str) -> list[str]:
        out = []
        for svc in await self.store.list("service"):
            container = (svc["Spec"].get("TaskTemplate") or {}).get("ContainerSpec") or {}
            refs = container.get(kind.title() + "s") or []
            if any(r.get(kind.title() + "ID") == oid for r in refs):
                out.append(svc["Spec"].get("Name", ""))
        return sorted(out)
