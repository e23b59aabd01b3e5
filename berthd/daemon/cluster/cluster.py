"""The node's swarm membership: inactive, or the manager of a swarm kept in etcd.

``Cluster`` is the one object the API's ``SwarmBackend`` and /info see; it
switches between the ``InactiveCluster`` answers and a ``SwarmManager``.
``swarm init`` picks two free loopback ports, starts a one-member etcd under
``<data-root>/swarm`` (``berthd.cluster.EtcdProcess``), writes the cluster
object and this node, then records ``swarm/state.json``; that file's presence
is what "in a swarm" means at the next start, when etcd is started again on
the same data dir. ``swarm leave --force`` removes every key, stops etcd and
removes the directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from berthd.cluster import EtcdProcess, EtcdSettings
from berthd.daemon.cluster.addresses import validate_init_request, validate_join_request
from berthd.daemon.cluster.agent import TaskAgent, TaskRuntime
from berthd.daemon.cluster.ids import new_id
from berthd.daemon.cluster.inactive import NOT_A_MANAGER, NOT_IN_SWARM, InactiveCluster
from berthd.daemon.cluster.logs import logs_options, merged_task_logs
from berthd.daemon.cluster.manager import LocalNode, SwarmManager
from berthd.daemon.cluster.objects import EventLog
from berthd.daemon.cluster.runner import NodeLoop
from berthd.daemon.cluster.store import ObjectStore
from berthd.errdefs import BerthdError, NotImplemented_, System, Unavailable
from berthd.lib.filters import FilterArgs

__all__ = ["Cluster"]

log = logging.getLogger("berthd.cluster")

_REJOIN_WAIT = 20.0  # dockerd's swarmConnectTimeout

SWARM_EXISTS = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
    "and join another one."
)
LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. "
    "Use `--force` to ignore this message. "
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _advertise(req: dict[str, Any]) -> str:
    """The control-plane address this node advertises: as given, else the listen address's host
    (a wildcard listen address advertises loopback: phase 0 keeps the swarm on one host)."""
    addr = str(req.get("AdvertiseAddr") or "")
    listen = str(req.get("ListenAddr") or "0.0.0.0:2377")
    port = listen.rsplit(":", 1)[1] if ":" in listen else "2377"
    if not addr:
        host = listen.rsplit(":", 1)[0].strip("[]")
        addr = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if addr.count(":") == 1 or addr.startswith("["):
        return addr
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


class Cluster:
    """Satisfies the API's ``SwarmBackend`` and the system service's ``SwarmState``."""

    def __init__(
        self,
        data_root: str,
        describe: Callable[[], dict[str, Any]],
        events: EventLog,
        exec_root: str = "",
    ) -> None:
        self.root = Path(data_root) / "swarm"
        self.files_root = Path(exec_root) / "swarm" / "tasks" if exec_root else None
        self._describe = describe
        self._events = events
        self._inactive = InactiveCluster()
        self._etcd: EtcdProcess | None = None
        self._manager: SwarmManager | None = None
        self._agent: NodeLoop | None = None
        self._rejoin: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # set by the daemon once its container service exists: tasks run as containers
        self.runtime: TaskRuntime | None = None

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    @property
    def etcd(self) -> EtcdProcess | None:
        return self._etcd

    # -- life cycle -----------------------------------------------------------------
    async def start(self) -> None:
        """Rejoin the swarm recorded in ``swarm/state.json``, if any, in the background:
        etcd takes an election timeout (1 s) to lead again, and the API need not wait.
        Swarm calls wait for it (``_ready``); /info shows ``pending`` meanwhile."""
        try:
            raw = await asyncio.to_thread(self.state_file.read_text)
        except FileNotFoundError:
            return
        self._rejoin = asyncio.create_task(self._rejoin_swarm(json.loads(raw)))

    async def _rejoin_swarm(self, state: dict[str, Any]) -> None:
        node = LocalNode(
            state["NodeID"], state["AdvertiseAddr"], state["ListenAddr"], state["DataPathAddr"]
        )
        settings = EtcdSettings(self.root, node.node_id, state["ClientPort"], state["PeerPort"])
        etcd = EtcdProcess(settings)
        try:
            await etcd.start()
            manager = SwarmManager(ObjectStore(etcd.client), node, self._events)
            await manager.load()
        except asyncio.CancelledError:
            await etcd.stop()
            raise
        except Exception:
            log.exception("cannot bring back the swarm of %s", self.root)
            await etcd.stop()
            return
        self._activate(etcd, manager)

    async def _ready(self) -> None:
        """Wait (bounded, as dockerd's swarmConnectTimeout) for a rejoin under way."""
        task = self._rejoin
        if task is None or task.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), _REJOIN_WAIT)
        except TimeoutError:
            raise Unavailable(
                "the swarm of this node is still starting; try again in a moment"
            ) from None

    def _activate(self, etcd: EtcdProcess, manager: SwarmManager) -> None:
        self._etcd, self._manager = etcd, manager
        if self.runtime is not None:
            self._agent = NodeLoop(
                TaskAgent(manager.store, manager.node.node_id, self.runtime, self.files_root)
            )
            self._agent.start()

    def _poke(self) -> None:
        if self._agent is not None:
            self._agent.poke()

    async def shutdown(self) -> None:
        if self._rejoin is not None and not self._rejoin.done():
            self._rejoin.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rejoin
        if self._agent is not None:
            await self._agent.stop()
            self._agent = None
        if self._etcd is not None:
            await self._etcd.stop()
            self._etcd = None
        self._manager = None

    def swarm_store(self) -> ObjectStore | None:
        """The swarm's objects while this node manages one (overlay networks use it)."""
        return self._manager.store if self._manager is not None else None

    async def _active(self) -> SwarmManager:
        await self._ready()
        if self._manager is None:
            raise Unavailable(NOT_A_MANAGER)
        return self._manager

    # -- SwarmState -----------------------------------------------------------------
    def _pending(self) -> bool:
        return self._rejoin is not None and not self._rejoin.done()

    def status(self) -> str:
        if self._manager is not None:
            return "active/manager"
        return "pending" if self._pending() else "inactive"

    def info(self) -> dict[str, Any]:
        if self._manager is None:
            out = self._inactive.info()
            if self._pending():
                out["LocalNodeState"] = "pending"
            return out
        return self._manager.info()

    # -- /swarm -----------------------------------------------------------------------
    async def init(self, req: dict[str, Any]) -> str:
        await self._ready()
        async with self._lock:
            if self._manager is not None:
                raise Unavailable(SWARM_EXISTS)
            validate_init_request(req)
            if req.get("ForceNewCluster"):
                pass  # one member: a new cluster is what init makes anyway
            node = LocalNode(
                new_id(),
                _advertise(req),
                str(req["ListenAddr"]),
                str(req.get("DataPathAddr") or ""),
            )
            settings = EtcdSettings(self.root, node.node_id, _free_port(), _free_port())
            await asyncio.to_thread(self._clear)
            etcd = EtcdProcess(settings)
            try:
                try:
                    await etcd.start()
                except (OSError, RuntimeError) as e:  # no etcd binary, etcd failing
                    raise System(f"swarm component could not be started: {e}") from e
                manager = SwarmManager(ObjectStore(etcd.client), node, self._events)
                await manager.bootstrap(req, self._describe())
                state = {
                    "NodeID": node.node_id,
                    "AdvertiseAddr": node.advertise_addr,
                    "ListenAddr": node.listen_addr,
                    "DataPathAddr": node.data_path_addr,
                    "ClientPort": settings.client_port,
                    "PeerPort": settings.peer_port,
                }
                await asyncio.to_thread(self._write_state, state)
            except BaseException:
                await etcd.stop()
                await asyncio.to_thread(self._clear)
                raise
            self._activate(etcd, manager)
            self._events(
                "node", "create", node.node_id, {"name": self._describe()["Hostname"]}, "swarm"
            )
            return node.node_id

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_file)

    def _clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    async def join(self, req: dict[str, Any]) -> None:
        await self._ready()
        if self._manager is not None:
            raise Unavailable(SWARM_EXISTS)
        validate_join_request(req)
        raise NotImplemented_(
            "This node cannot join a swarm: joining another node's swarm is not supported "
            "by berthd yet"
        )

    async def leave(self, force: bool) -> None:
        await self._ready()
        async with self._lock:
            manager = self._manager
            if manager is None:
                raise Unavailable(NOT_IN_SWARM)
            if not force:
                raise Unavailable(LAST_MANAGER)
            if self._agent is not None:
                await self._agent.stop()
                self._agent = None
            with contextlib.suppress(Unavailable):
                await self._remove_task_containers(manager)
                await manager.store.wipe()
            if self.files_root is not None:
                await asyncio.to_thread(shutil.rmtree, self.files_root.parent, True)
            self._manager = None
            await self.shutdown()
            await asyncio.to_thread(self._clear)

    async def _remove_task_containers(self, manager: SwarmManager) -> None:
        """A node leaving its swarm removes the containers of its tasks, as dockerd does."""
        if self.runtime is None:
            return
        for task in await manager.store.list("task"):
            cid = (task.get("Status", {}).get("ContainerStatus") or {}).get("ContainerID")
            if cid and self.runtime.state(cid) is not None:
                with contextlib.suppress(BerthdError):
                    await self.runtime.remove(cid)

    async def inspect(self) -> dict[str, Any]:
        return await (await self._active()).inspect()

    async def update(self, version: int, spec: dict[str, Any], rotate: Mapping[str, bool]) -> None:
        await (await self._active()).update(version, spec, rotate)

    async def unlock(self, req: dict[str, Any]) -> None:
        await (await self._active()).unlock(req)

    async def unlock_key(self) -> str:
        return await (await self._active()).unlock_key()

    # -- objects ----------------------------------------------------------------------
    async def list_objects(
        self, kind: str, filters: FilterArgs, status: bool = False
    ) -> list[dict[str, Any]]:
        return await (await self._active()).objects.list_of(kind, filters, status)

    async def get_object(
        self, kind: str, ref: str, insert_defaults: bool = False
    ) -> dict[str, Any]:
        return await (await self._active()).objects.get(kind, ref, insert_defaults)

    async def create_object(
        self, kind: str, spec: dict[str, Any], registry_auth: str = ""
    ) -> dict[str, Any]:
        out = await (await self._active()).objects.create(kind, spec)
        self._poke()
        return out

    async def update_object(
        self,
        kind: str,
        ref: str,
        version: int,
        spec: dict[str, Any],
        options: Mapping[str, str],
    ) -> dict[str, Any] | None:
        manager = await self._active()
        out = await manager.objects.update(kind, ref, version, spec, options)
        if kind == "node":
            await manager.refresh()
        self._poke()
        return out

    async def remove_object(self, kind: str, ref: str, force: bool = False) -> None:
        manager = await self._active()
        await manager.objects.remove(kind, ref, force)
        if kind == "node":
            await manager.refresh()
        self._poke()

    async def logs(
        self, kind: str, ref: str, options: Mapping[str, Any]
    ) -> tuple[bool, AsyncIterator[bytes]]:
        manager = await self._active()
        obj = await manager.objects.find(kind, ref)
        opts = logs_options(options)
        tasks = (
            [obj]
            if kind == "task"
            else [t for t in await manager.store.list("task") if t["ServiceID"] == obj["ID"]]
        )
        sources: list[tuple[str, Mapping[str, str]]] = []
        for t in tasks:
            cid = (t.get("Status", {}).get("ContainerStatus") or {}).get("ContainerID", "")
            if cid and self.runtime is not None and self.runtime.state(cid) is not None:
                attrs = {
                    "com.docker.swarm.node.id": str(t.get("NodeID", "")),
                    "com.docker.swarm.service.id": str(t["ServiceID"]),
                    "com.docker.swarm.task.id": str(t["ID"]),
                }
                sources.append((str(cid), attrs))
        if self.runtime is None:
            raise NotImplemented_(f"{kind} logs are not supported without a container runtime")
        return False, merged_task_logs(self.runtime, sources, opts)
