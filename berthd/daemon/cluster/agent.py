"""The agent of one node: runs the tasks the leader assigned to it, as containers.

Level-triggered (every second, or at once after a change): a task whose ``NodeID`` is
this node and whose desired state is ``running`` gets a container
``<service>.<slot>.<task id>`` (dockerd's labels) created and started through the
container service; its status follows the container (running, complete, failed). A
task that should stop has its container removed. The agent writes only
``status/<task>`` (the node's half of a task, ``ObjectStore.put_status``), never the
leader's ``tasks/<task>``. A container of a task that no longer exists or is now
assigned to another node (the node was Down meanwhile and its tasks were replaced) is
removed, so a returning node leaves no duplicate.

A task's secrets and configs are files under ``<exec-root>/swarm/tasks/<task>/``
bound read-only at their targets (``/run/secrets/<name>``, ``/<name>`` for a config),
removed with the task's container.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import shutil
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, Protocol

from berthd.daemon.cluster.store import ObjectStore
from berthd.daemon.cluster.tasks import ENDED, task_name, task_status
from berthd.errdefs import BerthdError
from berthd.logger.request import LogsOptions

__all__ = ["ContainerState", "TaskAgent", "TaskRuntime", "container_body"]

log = logging.getLogger("berthd.cluster")


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

    def task_containers(self) -> dict[str, str]: ...


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
    """Runs this node's tasks."""

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

    async def reconcile(self) -> None:
        services = {s["ID"]: s for s in await self.store.list("service")}
        tasks = await self.store.list("task")
        mine = {t["ID"] for t in tasks if t.get("NodeID") == self.node_id}
        for task in tasks:
            if task["ID"] in mine:
                await self._run(services.get(task["ServiceID"]), task)
        for task_id, cid in self.runtime.task_containers().items():
            if task_id not in mine:  # reaped, or given to another node while this was Down
                with contextlib.suppress(BerthdError):
                    await self.runtime.remove(cid)
                await self._drop_files(task_id)

    async def _put(self, task: dict[str, Any]) -> None:
        await self.store.put_status(task["ID"], task["Status"])

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
                    task["Status"] = task_status(
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
        if state not in ENDED:
            task["Status"] = task_status(
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
            task["Status"] = task_status("rejected", "preparing", Err=str(e))
            await self._put(task)
            return
        c = self.runtime.state(cid)
        task["Status"] = task_status(
            "running",
            "started",
            ContainerStatus={"ContainerID": cid, "PID": c.pid if c else 0, "ExitCode": 0},
        )
        await self._put(task)
