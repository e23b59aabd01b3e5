"""A minimal orchestrator and agent for a one-node swarm: replicated tasks as containers.

Level-triggered and idempotent, rebuilt from etcd on every pass (every second, or at
once after a service changes), as the research note asks of phase 1's controllers:

1. orchestrate: each replicated service wants one task with desired state
   ``running`` per slot 1..Replicas (a global one: one for this node; none on a drained
   node), with the service's current task template; a task
   whose slot is gone, whose service is gone or whose template is old is set to
   ``shutdown`` (stop-first), and a slot whose last task ended gets a new task once the
   restart policy's delay has passed (condition ``any``/``on-failure``/``none``);
2. run: a task of this node that should run gets a container
   ``<service>.<slot>.<task id>`` (dockerd's labels) created and started through the
   container service; its status follows the container (running, complete, failed);
   a task that should stop has its container removed;
3. reap: a slot keeps its 5 newest ended tasks (TaskHistoryRetentionLimit); tasks of a
   removed service go once their container is gone.

A task's secrets and configs are files under ``<exec-root>/swarm/tasks/<task>/``
bound read-only at their targets (``/run/secrets/<name>``, ``/<name>`` for a config),
removed with the task's container. Jobs, networks and placement are phase 1.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, Protocol

from berthd.daemon.cluster.ids import new_id
from berthd.daemon.cluster.store import ObjectStore
from berthd.errdefs import BerthdError
from berthd.lib.timefmt import format_ns, now_ns, parse_ns
from berthd.logger.request import LogsOptions

__all__ = ["ContainerState", "TaskAgent", "TaskRuntime", "container_body", "task_name"]

log = logging.getLogger("berthd.cluster")

_PASS_SECONDS = 1.0
_ENDED = ("complete", "failed", "shutdown", "rejected", "orphaned", "remove")


class ContainerState(Protocol):
    running: bool
    pid: int
    exit_code: int


class TaskRuntime(Protocol):
    """What the agent needs of the container service."""

    async def create(self, name: str, body: dict[str, Any]) -> str: ...

    async def start(self, cid: str) -> None: ...

    async def remove(self, cid: str) -> None: ...

    def state(self, cid: str) -> ContainerState | None: ...

    def logs(self, cid: str, opts: LogsOptions) -> tuple[bool, AsyncIterator[bytes]]: ...


def _template(svc: dict[str, Any]) -> dict[str, Any]:
    spec = dict(svc["Spec"].get("TaskTemplate") or {})
    spec.pop("Runtime", None)
    return spec


def _slots(svc: dict[str, Any], node: dict[str, Any] | None) -> list[int | str]:
    """The slots a service wants filled: 1..Replicas, or this node's ID for a global one
    (none on a drained node; a paused one keeps its tasks but gets no new ones)."""
    availability = ((node or {}).get("Spec") or {}).get("Availability", "active")
    if node is None or availability == "drain":
        return []
    mode = svc["Spec"].get("Mode") or {}
    if "Replicated" in mode:
        return list(range(1, int((mode["Replicated"] or {}).get("Replicas") or 0) + 1))
    if "Global" in mode:
        return [node["ID"]]
    return []  # jobs: phase 1


def _slot(task: dict[str, Any]) -> int | str:
    return int(task["Slot"]) if task.get("Slot") else str(task.get("NodeID", ""))


def task_name(svc: dict[str, Any], task: dict[str, Any]) -> str:
    """``<service>.<slot>.<task>``, a global service's tasks named by node instead."""
    return f"{svc['Spec']['Name']}.{_slot(task)}.{task['ID']}"


def _status(state: str, message: str, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"Timestamp": format_ns(now_ns()), "State": state, "Message": message}
    out.update(extra)
    out.setdefault("PortStatus", {})
    return out


# (where, task field, HostConfig field) copied as they are
_HOST_FIELDS = (
    ("limits", "MemoryBytes", "Memory"),
    ("limits", "NanoCPUs", "NanoCpus"),
    ("limits", "Pids", "PidsLimit"),
    ("spec", "Sysctls", "Sysctls"),
    ("spec", "CapabilityAdd", "CapAdd"),
    ("spec", "CapabilityDrop", "CapDrop"),
)


def container_body(svc: dict[str, Any], task: dict[str, Any], node_id: str) -> dict[str, Any]:
    """The container create body for a task, with dockerd's swarm labels."""
    spec = task["Spec"].get("ContainerSpec") or {}
    name = task_name(svc, task)
    labels = dict(spec.get("Labels") or {})
    labels.update(
        {
            "com.docker.swarm.node.id": node_id,
            "com.docker.swarm.service.id": svc["ID"],
            "com.docker.swarm.service.name": svc["Spec"]["Name"],
            "com.docker.swarm.task": "",
            "com.docker.swarm.task.id": task["ID"],
            "com.docker.swarm.task.name": name,
        }
    )
    body: dict[str, Any] = {
        "Image": spec.get("Image", ""),
        "Labels": labels,
        "Env": spec.get("Env"),
        "Cmd": spec.get("Args"),
        "Entrypoint": spec.get("Command"),
        "WorkingDir": spec.get("Dir", ""),
        "User": spec.get("User", ""),
        "Hostname": spec.get("Hostname", ""),
        "Tty": bool(spec.get("TTY")),
        "OpenStdin": bool(spec.get("OpenStdin")),
        "HostConfig": {"Init": spec.get("Init"), "ReadonlyRootfs": bool(spec.get("ReadOnly"))},
    }
    host: dict[str, Any] = body["HostConfig"]
    mounts = [dict(m) for m in spec.get("Mounts") or []]
    if mounts:
        host["Mounts"] = mounts
    limits = ((task["Spec"].get("Resources") or {}).get("Limits")) or {}
    for source, field, host_field in _HOST_FIELDS:
        value = (limits if source == "limits" else spec).get(field)
        if value:
            host[host_field] = value
    if spec.get("Hosts"):  # "IP host…" → "host:IP", as dockerd converts them
        host["ExtraHosts"] = [
            f"{name}:{parts[0]}"
            for parts in (h.split() for h in spec["Hosts"])
            for name in parts[1:]
        ]
    # host-mode published ports bind on this node; ingress (the routing mesh) is phase 4
    ports = [
        p for p in (svc["Spec"].get("EndpointSpec") or {}).get("Ports") or []
        if p.get("PublishMode") == "host"
    ]  # fmt: skip
    if ports:
        body["ExposedPorts"] = {}
        bindings: dict[str, list[dict[str, str]]] = {}
        for p in ports:
            key = f"{p.get('TargetPort', 0)}/{p.get('Protocol') or 'tcp'}"
            body["ExposedPorts"][key] = {}
            published = p.get("PublishedPort") or 0
            bindings.setdefault(key, []).append({"HostPort": str(published or "")})
        host["PortBindings"] = bindings
    grace = spec.get("StopGracePeriod")
    if grace is not None:
        body["StopTimeout"] = int(grace) // 1_000_000_000
    if spec.get("StopSignal"):
        body["StopSignal"] = spec["StopSignal"]
    return {k: v for k, v in body.items() if v not in (None, "")}


def _write_files(files: list[tuple[Path, bytes, dict[str, Any]]]) -> None:
    """Blocking: each file with its mode and owner, in a 0700 directory."""
    for path, data, spec in files:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fchown(fd, int(spec.get("UID") or 0), int(spec.get("GID") or 0))
            os.fchmod(fd, int(spec.get("Mode", 0o444)) & 0o7777)
        finally:
            os.close(fd)
        os.replace(tmp, path)


class TaskAgent:
    """Orchestrates and runs the replicated tasks of a one-node swarm."""

    def __init__(
        self,
        store: ObjectStore,
        node_id: str,
        runtime: TaskRuntime,
        files_root: Path | None = None,
    ) -> None:
        self.store = store
        self.node_id = node_id
        self.runtime = runtime
        # <exec-root>/swarm/tasks/<task>/: the secret and config files bound into a task
        self.files_root = files_root
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    def poke(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("swarm task pass failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), _PASS_SECONDS)

    async def reconcile(self) -> None:
        services = {s["ID"]: s for s in await self.store.list("service")}
        await self._orchestrate(services, await self.store.list("task"))
        tasks = await self.store.list("task")
        for task in tasks:
            if task.get("NodeID") == self.node_id:
                await self._run(services.get(task["ServiceID"]), task)
        await self._reap(services, await self.store.list("task"))

    async def _put(self, task: dict[str, Any]) -> None:
        task["UpdatedAt"] = format_ns(now_ns())
        try:
            await self.store.update("task", task, task["Version"]["Index"])
        except BerthdError:
            pass  # changed meanwhile: the next pass sees the new version

    async def _orchestrate(
        self, services: dict[str, dict[str, Any]], tasks: list[dict[str, Any]]
    ) -> None:
        node = await self.store.get("node", self.node_id)
        paused = ((node or {}).get("Spec") or {}).get("Availability") == "pause"
        wanted = {sid: _slots(svc, node) for sid, svc in services.items()}
        live: dict[tuple[str, int | str], dict[str, Any]] = {}
        last_end: dict[tuple[str, int | str], int] = {}
        for t in tasks:
            svc = services.get(t["ServiceID"])
            key = (t["ServiceID"], _slot(t))
            if t["DesiredState"] == "running":
                if (
                    svc is None
                    or key[1] not in wanted[svc["ID"]]
                    or t["Spec"] != _template(svc)
                    or t["Status"]["State"] in _ENDED
                ):
                    t["DesiredState"] = "shutdown"
                    await self._put(t)
                else:
                    live[key] = t
            if t["Status"]["State"] in _ENDED:
                last_end[key] = max(last_end.get(key, 0), parse_ns(t["Status"]["Timestamp"]))
        if paused:
            return
        for svc in services.values():
            restart = _template(svc).get("RestartPolicy") or {}
            delay = int(restart.get("Delay", 5_000_000_000))
            condition = restart.get("Condition") or "any"
            for slot in wanted[svc["ID"]]:
                key = (svc["ID"], slot)
                if key in live:
                    continue
                ended_at = last_end.get(key)
                if ended_at is not None:
                    if condition == "none" or now_ns() - ended_at < delay:
                        continue
                    if condition == "on-failure" and not await self._slot_failed(svc, slot):
                        continue
                await self._new_task(svc, slot)

    async def _slot_failed(self, svc: dict[str, Any], slot: int | str) -> bool:
        ended = [
            t
            for t in await self.store.list("task")
            if t["ServiceID"] == svc["ID"] and _slot(t) == slot
        ]
        ended.sort(key=lambda t: parse_ns(t["Status"]["Timestamp"]))
        return bool(ended) and ended[-1]["Status"]["State"] == "failed"

    async def _new_task(self, svc: dict[str, Any], slot: int | str) -> None:
        now = format_ns(now_ns())
        task: dict[str, Any] = {
            "ID": new_id(),
            "CreatedAt": now,
            "UpdatedAt": now,
            "Labels": {},
            "Spec": _template(svc),
            "ServiceID": svc["ID"],
        }
        if isinstance(slot, int):
            task["Slot"] = slot  # a global service's tasks have none
        task.update(
            {
                "NodeID": self.node_id,
                "Status": _status("assigned", "scheduler assigned task to node"),
                "DesiredState": "running",
            }
        )
        await self.store.create("task", task)

    async def _run(self, svc: dict[str, Any] | None, task: dict[str, Any]) -> None:
        state = task["Status"]["State"]
        cid = (task["Status"].get("ContainerStatus") or {}).get("ContainerID", "")
        if task["DesiredState"] == "running" and svc is not None:
            if state in ("new", "pending", "assigned", "accepted", "preparing"):
                await self._start(svc, task)
                return
            if state in ("starting", "running") and cid:
                c = self.runtime.state(cid)
                if c is None or not c.running:
                    code = c.exit_code if c is not None else 0
                    failed = c is None or code != 0
                    task["Status"] = _status(
                        "failed" if failed else "complete",
                        "started",
                        ContainerStatus={"ContainerID": cid, "ExitCode": code},
                        **({"Err": f"task: non-zero exit ({code})"} if failed else {}),
                    )
                    await self._put(task)
            return
        # desired shutdown: the container goes, and its secret and config files
        if cid and self.runtime.state(cid) is not None:
            with contextlib.suppress(BerthdError):
                await self.runtime.remove(cid)
        await self._drop_files(task["ID"])
        if state not in _ENDED:
            task["Status"] = _status(
                "shutdown", "shutdown", ContainerStatus={"ContainerID": cid, "ExitCode": 0}
            )
            await self._put(task)

    async def _files(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        """Write the task's secrets and configs; the bind mounts that show them."""
        spec = task["Spec"].get("ContainerSpec") or {}
        refs = [("secret", r) for r in spec.get("Secrets") or []]
        refs += [("config", r) for r in spec.get("Configs") or []]
        if not refs or self.files_root is None:
            return []
        files: list[tuple[Path, bytes, dict[str, Any]]] = []
        mounts = []
        for n, (kind, ref) in enumerate(refs):
            obj = await self.store.get(kind, ref.get(kind.title() + "ID", ""))
            target = (ref.get("File") or {}).get("Name")
            if obj is None or not target:
                continue  # a runtime-only reference (credential specs): nothing to write
            data = base64.b64decode(obj["Spec"].get("Data") or "")
            base = "/run/secrets/" if kind == "secret" else "/"
            # one file per reference: one secret may be bound twice with two modes
            path = self.files_root / task["ID"] / f"{kind}s" / f"{obj['ID']}.{n}"
            files.append((path, data, ref.get("File") or {}))
            mounts.append(
                {
                    "Type": "bind",
                    "Source": str(path),
                    "Target": target if target.startswith("/") else base + target,
                    "ReadOnly": True,
                }
            )
        await asyncio.to_thread(_write_files, files)
        return mounts

    def _drop_files(self, task_id: str) -> Awaitable[None]:
        root = self.files_root
        if root is None:
            return asyncio.sleep(0)
        return asyncio.to_thread(shutil.rmtree, root / task_id, True)

    async def _start(self, svc: dict[str, Any], task: dict[str, Any]) -> None:
        name = task_name(svc, task)
        try:
            body = container_body(svc, task, self.node_id)
            mounts = await self._files(task)
            if mounts:
                body["HostConfig"].setdefault("Mounts", []).extend(mounts)
            cid = await self.runtime.create(name, body)
            await self.runtime.start(cid)
        except BerthdError as e:
            task["Status"] = _status("rejected", "preparing", Err=str(e))
            await self._put(task)
            return
        c = self.runtime.state(cid)
        task["Status"] = _status(
            "running",
            "started",
            ContainerStatus={"ContainerID": cid, "PID": c.pid if c else 0, "ExitCode": 0},
        )
        await self._put(task)

    async def _reap(self, services: dict[str, dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
        cluster = await self.store.get("cluster", "")
        keep = int(
            ((cluster or {}).get("Spec") or {})
            .get("Orchestration", {})
            .get("TaskHistoryRetentionLimit", 5)
        )
        history: dict[tuple[str, int | str], list[dict[str, Any]]] = defaultdict(list)
        for t in tasks:
            if t["DesiredState"] == "running" or t["Status"]["State"] not in _ENDED:
                continue
            if t["ServiceID"] not in services:
                await self.store.remove("task", t["ID"])
                continue
            history[(t["ServiceID"], _slot(t))].append(t)
        for ended in history.values():
            ended.sort(key=lambda t: parse_ns(t["Status"]["Timestamp"]), reverse=True)
            for t in ended[keep:]:
                await self.store.remove("task", t["ID"])
