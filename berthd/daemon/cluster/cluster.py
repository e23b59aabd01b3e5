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
import dataclasses
import json
import logging
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from berthd.cluster import EtcdClient, EtcdError, EtcdProcess, EtcdSettings
from berthd.cluster.rpc import JoinListener, RpcError, call_join, fetch_ca
from berthd.cluster.tls import NodeTLS, new_key_and_csr, pinned_context
from berthd.daemon.cluster.addresses import validate_init_request, validate_join_request
from berthd.daemon.cluster.agent import TaskAgent, TaskRuntime
from berthd.daemon.cluster.heartbeat import alive_nodes
from berthd.daemon.cluster.ids import new_id, new_root_ca, parse_join_token
from berthd.daemon.cluster.inactive import NOT_A_MANAGER, NOT_IN_SWARM, InactiveCluster
from berthd.daemon.cluster.logs import (
    LogSource,
    RemoteLogs,
    logs_options,
    merged_task_logs,
    serve_task_log,
)
from berthd.daemon.cluster.manager import LocalNode, SwarmManager
from berthd.daemon.cluster.membership import JoinHandler, free_port, local_addr_towards
from berthd.daemon.cluster.objects import EventLog
from berthd.daemon.cluster.renewal import (
    cert_days,
    dates_of,
    due,
    renew_from_manager,
    renew_here,
)
from berthd.daemon.cluster.roles import join_members, leave_members, undo_member
from berthd.daemon.cluster.runner import NodeLoop
from berthd.daemon.cluster.store import NoLeader, ObjectStore
from berthd.errdefs import BerthdError, InvalidParameter, NotImplemented_, System, Unavailable
from berthd.lib.filters import FilterArgs
from berthd.lib.tasks import cancel_and_wait

__all__ = ["Cluster"]

log = logging.getLogger("berthd.cluster")

_REJOIN_WAIT = 20.0  # dockerd's swarmConnectTimeout
_REFRESH_SECONDS = 2.0
_ROLE_SECONDS = 1.0  # how often a node reads its own role (node promote/demote)
_RENEW_PASSES = 10  # its certificate's dates every tenth pass

SWARM_EXISTS = (
    'This node is already part of a swarm. Use "docker swarm leave" to leave this swarm '
    "and join another one."
)
LAST_MANAGER = (
    "You are attempting to leave the swarm on a node that is participating as a manager. "
    "Removing the last manager erases all current state of the swarm. "
    "Use `--force` to ignore this message. "
)


def _leave_refusal(others: list[dict[str, Any]]) -> str:
    """dockerd's answer to ``swarm leave`` without ``--force`` on a manager."""
    if not others:
        return LAST_MANAGER
    reachable = 1 + sum(1 for n in others if n["alive"])
    unreachable = len(others) + 1 - reachable
    msg = "You are attempting to leave the swarm on a node that is participating as a manager. "
    if reachable - 2 <= unreachable:
        msg += (
            f"Removing this node leaves {reachable - 1} managers out of "
            f"{reachable + unreachable}. Without a Raft quorum your swarm will be "
            "inaccessible. "
        )
    return msg + (
        "The only way to restore a swarm that has lost consensus is to reinitialize it with "
        "`--force-new-cluster`. Use `--force` to suppress this message."
    )


def _etcd_host(addr: str) -> str:
    """Where this node's etcd listens for peers: the advertise address when it is one of
    this node's, else loopback (a swarm that can then never have a second manager)."""
    try:
        free_port(addr)
    except OSError:
        log.warning("swarm: %s is not an address of this node; etcd listens on loopback", addr)
        return "127.0.0.1"
    return addr


def _tls(root: Path) -> NodeTLS | None:
    """The node's certificates (a swarm made before they existed has none: plain http)."""
    tls = NodeTLS(root / "certs")
    return tls if tls.exists() else None


def _settings(root: Path, state: Mapping[str, Any]) -> EtcdSettings:
    return EtcdSettings(
        root,
        str(state["NodeID"]),
        int(state["ClientPort"]),
        int(state["PeerPort"]),
        host=str(state.get("EtcdHost") or "127.0.0.1"),
        initial_cluster=str(state.get("InitialCluster") or ""),
        cluster_token=str(state.get("ClusterToken") or ""),
        tls=_tls(root),
    )


def _worker_client(url: str, tls: NodeTLS | None) -> EtcdClient:
    return EtcdClient(url, ssl_context=tls.client_context() if tls is not None else None)


def _ca_mismatch(digest: str) -> str:
    """SwarmKit's words when the manager's root CA is not the one the token pins."""
    return f"remote CA does not match fingerprint. Expected: {int(digest, 36):064x}"


def _node_state(node: LocalNode) -> dict[str, Any]:
    """The part of ``state.json`` every node has, whatever its role."""
    return {
        "NodeID": node.node_id,
        "AdvertiseAddr": node.advertise_addr,
        "ListenAddr": node.listen_addr,
        "DataPathAddr": node.data_path_addr,
    }


def _manager_state(node: LocalNode, s: EtcdSettings) -> dict[str, Any]:
    return dict(
        _node_state(node), Role="manager", ClientPort=s.client_port, PeerPort=s.peer_port,
        EtcdHost=s.host, InitialCluster=s.initial_cluster, ClusterToken=s.cluster_token,
    )  # fmt: skip


def _worker_state(node: LocalNode, manager_url: str, remote: str) -> dict[str, Any]:
    return dict(_node_state(node), Role="worker", ManagerURL=manager_url, RemoteAddr=remote)


def _listen_host_port(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port or 2377)


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
        self._listener: JoinListener | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._roles: asyncio.Task[None] | None = None
        self._endpoint = ""  # host:port of this node's swarm port, once listening
        self._endpoint_written = ""
        self._cert: tuple[float, float] | None = None  # its certificate's dates, cached
        # a worker: its node and its store, an etcd client of the manager it joined
        self._worker: tuple[LocalNode, ObjectStore, str] | None = None
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
        if state.get("Role") == "worker":
            store = ObjectStore(_worker_client(str(state["ManagerURL"]), _tls(self.root)))
            await self._activate_worker(node, store, str(state.get("RemoteAddr") or ""))
            return
        settings = _settings(self.root, state)
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
        await self._activate(etcd, manager)

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

    async def _activate(self, etcd: EtcdProcess, manager: SwarmManager) -> None:
        self._etcd, self._manager = etcd, manager
        await self._listen(etcd, manager)
        self._refresher = asyncio.create_task(self._refresh_loop(manager))
        if self.runtime is not None:
            self._agent = NodeLoop(
                TaskAgent(manager.store, manager.node.node_id, self.runtime, self.files_root)
            )
            self._agent.start()
        self._follow_roles()

    async def _listen(self, etcd: EtcdProcess, manager: SwarmManager) -> None:
        """Every manager admits joiners on its swarm listen address (dockerd fails init
        when it cannot listen there; berthd logs it and the swarm works without joins)."""
        s = etcd.settings
        token = s.cluster_token or f"berthd-{s.name}"
        handler = JoinHandler(manager.store, s.advertise_client_url, token)
        await self._serve(manager.node, handler)

    async def _serve(self, node: LocalNode, handler: JoinHandler | None) -> None:
        """The node's swarm port: joins (a manager's ``handler``), the root CA, and the
        logs of this node's tasks for the managers."""
        host, port = _listen_host_port(node.listen_addr)
        tls = _tls(self.root)
        logs = self._serve_logs if self.runtime is not None else None
        if tls is not None:
            ca = await asyncio.to_thread(tls.ca.read_text)
            renew = handler.renew if handler is not None else None
            listener = JoinListener(host, port, handler, tls.server_context(), ca, logs, renew)
        elif handler is not None:
            listener = JoinListener(host, port, handler)
        else:
            return
        try:
            await listener.start()
        except OSError as e:
            log.warning("swarm: cannot listen on %s:%d for the swarm: %s", host, port, e)
            return
        self._listener = listener
        self._endpoint = f"{node.addr}:{port}" if tls is not None else ""

    async def _serve_logs(self, cid: str, options: dict[str, Any]) -> AsyncIterator[bytes]:
        assert self.runtime is not None
        return await serve_task_log(self.runtime, cid, options)

    @staticmethod
    async def _refresh_loop(manager: SwarmManager) -> None:
        """/info's cached counts follow the other managers' writes too (joins, leaves)."""
        while True:
            await asyncio.sleep(_REFRESH_SECONDS)
            try:
                await manager.refresh()
            except Exception as e:  # etcd without quorum for a while: /info keeps the last
                log.debug("swarm: refresh of /info's view: %s", e)

    async def _activate_worker(self, node: LocalNode, store: ObjectStore, remote: str) -> None:
        self._worker = (node, store, remote)
        await self._serve(node, None)
        if self.runtime is not None:
            agent = TaskAgent(store, node.node_id, self.runtime, self.files_root)
            self._agent = NodeLoop(agent, manager=False)
            self._agent.start()
        self._follow_roles()

    # -- node promote / demote (berthd/daemon/cluster/roles.py) -------------------------
    def _follow_roles(self) -> None:
        if self._roles is None or self._roles.done():
            self._roles = asyncio.create_task(self._role_loop())

    async def _role_loop(self) -> None:
        """This node follows the role the managers give it in its node object, and
        renews its certificate when due (berthd/daemon/cluster/renewal.py)."""
        passes = 0
        while True:
            await asyncio.sleep(_ROLE_SECONDS)
            passes += 1
            try:
                await self._follow_role()
                if passes % _RENEW_PASSES == 1:
                    await self._renew_if_due()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # etcd away for a moment: the next pass tries again
                log.warning("swarm: following this node's role: %s", e)

    async def _renew_if_due(self) -> None:
        tls = _tls(self.root)
        if tls is None:
            return
        if self._manager is not None and self._etcd is not None:
            store, node, remote = self._manager.store, self._manager.node, ""
            client = self._etcd.client
        elif self._worker is not None and self._worker[2]:
            node, store, remote = self._worker  # a worker asks the manager it knows
            client = store.etcd
        else:
            return
        cluster = await store.get("cluster", "")
        if cluster is None:
            return
        if self._cert is None:
            self._cert = await dates_of(tls)
        if not due(self._cert, cert_days(cluster)):
            return
        async with self._lock:
            if remote:
                await renew_from_manager(tls, remote, node.node_id)
            else:
                await renew_here(tls, cluster, node.node_id, node.addr)
            self._cert = None
            listener = self._listener.ssl_context if self._listener is not None else None
            await asyncio.to_thread(tls.reload, client.ssl_context, listener)
        log.info("swarm: renewed this node's certificate")

    async def _follow_role(self) -> None:
        if self._manager is not None:
            store, node = self._manager.store, self._manager.node
        elif self._worker is not None:
            node, store, _ = self._worker
        else:
            return
        if self._endpoint and self._endpoint_written != self._endpoint:
            await store.put_endpoint(node.node_id, self._endpoint)
            self._endpoint_written = self._endpoint
        obj = await store.get("node", node.node_id)
        role = ((obj or {}).get("Spec") or {}).get("Role")
        async with self._lock:
            if role == "worker" and self._manager is not None and self._etcd is not None:
                await self._demote(self._manager, self._etcd)
            elif role == "manager" and self._worker is not None:
                await self._promote(*self._worker)

    async def _stop_duties(self) -> None:
        """Stop what this node runs for its present role (not its containers)."""
        await cancel_and_wait(self._refresher)
        self._refresher = None
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None
        if self._agent is not None:
            await self._agent.stop()
            self._agent = None

    async def _demote(self, manager: SwarmManager, etcd: EtcdProcess) -> None:
        node = manager.node
        log.info("swarm: this node is demoted to a worker")
        await self._stop_duties()
        try:
            url = await leave_members(etcd, node.node_id)
        except (EtcdError, RuntimeError) as e:
            log.warning("swarm: cannot leave the managers yet: %s", e)
            await self._activate(etcd, manager)
            return
        self._etcd = self._manager = None
        store = ObjectStore(_worker_client(url, _tls(self.root)))
        remote = next(
            (str(r.get("Addr") or "") for r in manager.info()["RemoteManagers"] or []
             if r.get("NodeID") != node.node_id),
            "",
        )  # fmt: skip
        await asyncio.to_thread(self._write_state, _worker_state(node, url, remote))
        await self._activate_worker(node, store, remote)

    async def _promote(self, node: LocalNode, store: ObjectStore, remote: str) -> None:
        log.info("swarm: this node is promoted to a manager")
        await self._stop_duties()
        try:
            etcd = await join_members(
                self.root, node.node_id, node.addr, _tls(self.root), store.etcd
            )
        except Exception as e:
            log.warning("swarm: cannot become a manager yet: %s", e)
            await self._activate_worker(node, store, remote)
            return
        manager = SwarmManager(ObjectStore(etcd.client), node, self._events)
        try:
            await manager.take_manager_status()
        except Exception as e:  # its member is up and counts: it is a manager, say so later
            log.warning("swarm: the promoted node's manager status: %s", e)
        await asyncio.to_thread(self._write_state, _manager_state(node, etcd.settings))
        self._worker = None
        await store.etcd.close()
        await self._activate(etcd, manager)

    def _poke(self) -> None:
        if self._agent is not None:
            self._agent.poke()

    async def shutdown(self) -> None:
        if self._rejoin is not None and not self._rejoin.done():
            self._rejoin.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._rejoin
        if self._roles is not None and self._roles is not asyncio.current_task():
            await cancel_and_wait(self._roles)
        self._roles = None
        await self._stop_duties()
        if self._etcd is not None:
            await self._etcd.stop()
            self._etcd = None
        if self._worker is not None:
            await self._worker[1].etcd.close()
            self._worker = None
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
        if self._worker is not None:
            return "active/worker"
        return "pending" if self._pending() else "inactive"

    def info(self) -> dict[str, Any]:
        if self._worker is not None:
            node, _, remote = self._worker
            return {
                "NodeID": node.node_id,
                "NodeAddr": node.addr,
                "LocalNodeState": "active",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": [{"NodeID": "", "Addr": remote}] if remote else None,
            }
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
            if req.get("ForceNewCluster") and self._manager is not None and self._etcd:
                return await self._force_new_cluster(self._manager, self._etcd)
            if self._manager is not None or self._worker is not None:
                raise Unavailable(SWARM_EXISTS)
            validate_init_request(req)
            node = LocalNode(
                new_id(),
                _advertise(req),
                str(req["ListenAddr"]),
                str(req.get("DataPathAddr") or ""),
            )
            host = await asyncio.to_thread(_etcd_host, node.addr)
            tls = NodeTLS(self.root / "certs")
            settings = EtcdSettings(
                self.root, node.node_id, free_port(host), free_port(host), host=host, tls=tls
            )
            await asyncio.to_thread(self._clear)
            try:
                ca, cluster_id = await asyncio.to_thread(new_root_ca), new_id()
                await asyncio.to_thread(
                    tls.issue, ca.cert_pem, ca.key_pem, node.node_id, "manager", cluster_id,
                    [host],
                )  # fmt: skip
            except (OSError, RuntimeError, subprocess.SubprocessError) as e:
                await asyncio.to_thread(self._clear)
                raise System(f"swarm component could not be started: {e}") from e
            etcd = EtcdProcess(settings)
            try:
                try:
                    await etcd.start()
                except (OSError, RuntimeError) as e:  # no etcd binary, etcd failing
                    raise System(f"swarm component could not be started: {e}") from e
                manager = SwarmManager(ObjectStore(etcd.client), node, self._events)
                await manager.bootstrap(req, self._describe(), ca, cluster_id)
                await asyncio.to_thread(self._write_state, _manager_state(node, settings))
            except BaseException:
                await etcd.stop()
                await asyncio.to_thread(self._clear)
                raise
            await self._activate(etcd, manager)
            self._events(
                "node", "create", node.node_id, {"name": self._describe()["Hostname"]}, "swarm"
            )
            return node.node_id

    async def _force_new_cluster(self, manager: SwarmManager, etcd: EtcdProcess) -> str:
        """``swarm init --force-new-cluster`` on a manager: its etcd member becomes a
        one-member cluster with all the swarm's state (etcd's ``--force-new-cluster``,
        run once: the other members are dropped from the configuration), so a swarm
        that lost its quorum works again from this node. The other managers' node objects
        stay (Down, Unreachable), as SwarmKit keeps them; they can join again."""
        node = manager.node
        log.warning("swarm: forcing a new cluster of one member from this node's state")
        await self._stop_duties()
        await etcd.stop()
        settings = etcd.settings
        forced = EtcdProcess(dataclasses.replace(settings, force_new_cluster=True))
        try:
            await forced.start()
        except (OSError, RuntimeError) as e:
            await forced.stop()
            raise System(f"swarm component could not be started: {e}") from e
        await forced.stop()  # once: a restart with the flag would drop later members too
        etcd = EtcdProcess(settings)
        try:
            await etcd.start()
        except (OSError, RuntimeError) as e:
            await etcd.stop()
            raise System(f"swarm component could not be started: {e}") from e
        manager = SwarmManager(ObjectStore(etcd.client), node, self._events)
        await manager.load()
        await self._activate(etcd, manager)
        return node.node_id

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.state_file)

    def _clear(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    async def join(self, req: dict[str, Any]) -> None:
        """Join the swarm of the manager at ``RemoteAddrs[0]``: present the token on its
        swarm port; as a manager, start this node's etcd as a new member of the swarm's
        etcd cluster (the manager has added it), then register this node."""
        await self._ready()
        async with self._lock:
            if self._manager is not None or self._worker is not None:
                raise Unavailable(SWARM_EXISTS)
            validate_join_request(req)
            token = str(req.get("JoinToken") or "")
            try:
                pin = parse_join_token(token)
            except ValueError as e:
                raise InvalidParameter(str(e)) from None
            remote = str(req["RemoteAddrs"][0])
            advertise = str(req.get("AdvertiseAddr") or "")
            if not advertise:
                rhost = remote.rsplit(":", 1)[0].strip("[]")
                try:
                    advertise = await asyncio.to_thread(local_addr_towards, rhost)
                except OSError as e:
                    raise InvalidParameter(
                        f"could not find the local address to reach {remote}: {e}"
                    ) from None
            listen = str(req["ListenAddr"])
            node = LocalNode(
                new_id(),
                _advertise({"AdvertiseAddr": advertise, "ListenAddr": listen}),
                listen,
                str(req.get("DataPathAddr") or ""),
            )
            tls = NodeTLS(self.root / "certs")
            try:
                host = node.addr
                settings = EtcdSettings(
                    self.root, node.node_id, free_port(host), free_port(host), host=host, tls=tls
                )
            except OSError as e:
                raise InvalidParameter(
                    f"advertise address {node.addr} is not an address of this node: {e}"
                ) from None
            try:
                # the root CA first, checked against the token before the token is sent
                ca = await fetch_ca(remote)
                if not pin.pins(ca):
                    raise InvalidParameter(_ca_mismatch(pin.digest))
                key, csr = await asyncio.to_thread(new_key_and_csr, node.node_id)
                body = {
                    "Token": token,
                    "NodeID": node.node_id,
                    "PeerURL": settings.peer_url,
                    "Addr": node.advertise_addr,
                    "CSR": csr,
                }
                reply = await call_join(remote, body, ssl_context=pinned_context(ca))
            except RpcError as e:
                if 400 <= e.status < 500:
                    raise InvalidParameter(e.message) from None
                raise Unavailable(e.message) from None
            except RuntimeError as e:  # openssl
                raise System(f"cannot make this node's certificate request: {e}") from None
            cert = str(reply.get("Certificate") or "")
            if "-----BEGIN CERTIFICATE-----" not in cert:
                raise Unavailable("the manager sent no certificate for this node")
            await asyncio.to_thread(self._clear)
            await asyncio.to_thread(tls.write, ca, cert, key)
            if reply.get("Role") != "manager":
                await self._join_as_worker(req, node, remote, reply)
                return
            await self._join_as_manager(req, node, settings, reply)

    async def _join_as_worker(
        self, req: dict[str, Any], node: LocalNode, remote: str, reply: dict[str, Any]
    ) -> None:
        """A worker runs no etcd: its agent and heartbeat use the etcd of the manager it
        joined, through that manager's client URL (a phase-1 simplification: SwarmKit
        workers talk to a manager's dispatcher only)."""
        urls = [str(u) for u in reply.get("ClientURLs") or []]
        if not urls:
            await asyncio.to_thread(self._clear)
            raise Unavailable("the manager sent no address to reach the swarm's store")
        store = ObjectStore(_worker_client(urls[0], _tls(self.root)))
        try:
            availability = str(req.get("Availability") or "active")
            registrar = SwarmManager(store, node, self._events)
            await registrar.register("worker", availability, self._describe())
            await asyncio.to_thread(self.root.mkdir, 0o700, True, True)
            await asyncio.to_thread(self._write_state, _worker_state(node, urls[0], remote))
        except BaseException:
            await store.etcd.close()
            await asyncio.to_thread(self._clear)
            raise
        await self._activate_worker(node, store, remote)

    async def _join_as_manager(
        self,
        req: dict[str, Any],
        node: LocalNode,
        settings: EtcdSettings,
        reply: dict[str, Any],
    ) -> None:
        settings = dataclasses.replace(
            settings,
            initial_cluster=str(reply["InitialCluster"]),
            cluster_token=str(reply.get("ClusterToken") or ""),
        )
        etcd = EtcdProcess(settings)
        try:
            try:
                await etcd.start()
            except (OSError, RuntimeError) as e:
                raise System(f"swarm component could not be started: {e}") from e
            manager = SwarmManager(ObjectStore(etcd.client), node, self._events)
            availability = str(req.get("Availability") or "active")
            await manager.register("manager", availability, self._describe())
            await asyncio.to_thread(self._write_state, _manager_state(node, settings))
        except BaseException:
            await etcd.stop()
            urls = [str(u) for u in reply.get("ClientURLs") or []]
            if urls:  # the manager added this node's member: take it out again
                via = _worker_client(urls[0], _tls(self.root))
                try:
                    await undo_member(via, settings.peer_url)
                finally:
                    await via.close()
            await asyncio.to_thread(self._clear)
            raise
        await self._activate(etcd, manager)

    async def leave(self, force: bool) -> None:
        await self._ready()
        async with self._lock:
            if self._worker is not None:
                await self._leave_worker()
                return
            manager = self._manager
            if manager is None:
                raise Unavailable(NOT_IN_SWARM)
            others = await self._other_managers(manager)
            if not force:
                raise Unavailable(_leave_refusal(others))
            if others:
                await self._leave_managers(manager)
                return
            if self._agent is not None:
                await self._agent.stop()
                self._agent = None
            with contextlib.suppress(NoLeader):
                await self._remove_task_containers(manager.store)
                await manager.store.wipe()
            if self.files_root is not None:
                await asyncio.to_thread(shutil.rmtree, self.files_root.parent, True)
            self._manager = None
            await self.shutdown()
            await asyncio.to_thread(self._clear)

    async def _other_managers(self, manager: SwarmManager) -> list[dict[str, Any]]:
        """The other managers' node objects, each with ``alive`` (its heartbeat); none
        when etcd cannot answer (this node then leaves as the last one would)."""
        try:
            nodes = await manager.store.list("node")
            alive = await alive_nodes(manager.store.etcd)
        except (NoLeader, EtcdError):
            return []
        return [
            dict(n, alive=n["ID"] in alive)
            for n in nodes
            if n.get("ManagerStatus") and n["ID"] != manager.node.node_id
        ]

    async def _leave_managers(self, manager: SwarmManager) -> None:
        """A manager leaving a swarm that keeps other managers: its node object becomes a
        worker's (Down once its heartbeat is revoked, so ``docker node rm`` can remove
        it), its etcd member is removed (MemberRemove), and its local state goes."""
        node_id = manager.node.node_id
        agent, self._agent = self._agent, None
        if agent is not None:
            if agent.heartbeat is not None:
                await agent.heartbeat.stop(revoke=True)
            await agent.stop()
        with contextlib.suppress(NoLeader):
            await self._remove_task_containers(manager.store, node_id)
        for _ in range(3):  # the leader may write the node's status meanwhile
            try:
                obj = await manager.store.get("node", node_id)
                if obj is not None:
                    obj.pop("ManagerStatus", None)
                    obj["Spec"]["Role"] = "worker"
                    obj["Status"] = dict(obj.get("Status") or {}, State="down")
                    await manager.store.update("node", obj, obj["Version"]["Index"])
                break
            except (BerthdError, EtcdError) as e:
                log.info("swarm: leaving, the node object: %s", e)
        try:
            for member in await manager.store.etcd.member_list():
                if member.name == node_id:
                    await manager.store.etcd.member_remove(member.id)
        except EtcdError as e:
            log.warning("swarm: could not remove this node's etcd member: %s", e)
        if self.files_root is not None:
            await asyncio.to_thread(shutil.rmtree, self.files_root.parent, True)
        self._manager = None
        await self.shutdown()
        await asyncio.to_thread(self._clear)

    async def _leave_worker(self) -> None:
        """A worker leaves: its heartbeat revoked (it is Down in the managers' list, as in
        dockerd, until ``docker node rm``), its task containers removed."""
        assert self._worker is not None
        node, store, _ = self._worker
        agent, self._agent = self._agent, None
        if agent is not None:
            if agent.heartbeat is not None:
                await agent.heartbeat.stop(revoke=True)
            await agent.stop()
        with contextlib.suppress(NoLeader):
            await self._remove_task_containers(store, node.node_id)
        if self.files_root is not None:
            await asyncio.to_thread(shutil.rmtree, self.files_root.parent, True)
        await self.shutdown()
        await asyncio.to_thread(self._clear)

    async def _remove_task_containers(self, store: ObjectStore, node_id: str = "") -> None:
        """A node leaving its swarm removes the containers of its tasks, as dockerd does."""
        if self.runtime is None:
            return
        for task in await store.list("task"):
            if node_id and task.get("NodeID") != node_id:
                continue
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
        if self.runtime is None:
            raise NotImplemented_(f"{kind} logs are not supported without a container runtime")
        me = manager.node.node_id
        remote = await self._remote_log_sources(manager, {str(t.get("NodeID")) for t in tasks})
        sources: list[tuple[LogSource, str, Mapping[str, str]]] = []
        for t in tasks:
            cid = (t.get("Status", {}).get("ContainerStatus") or {}).get("ContainerID", "")
            node_id = str(t.get("NodeID", ""))
            source: LogSource | None = None
            if node_id == me and cid and self.runtime.state(cid) is not None:
                source = self.runtime
            elif node_id != me and cid:
                source = remote.get(node_id)
            if source is not None:
                attrs = {
                    "com.docker.swarm.node.id": node_id,
                    "com.docker.swarm.service.id": str(t["ServiceID"]),
                    "com.docker.swarm.task.id": str(t["ID"]),
                }
                sources.append((source, str(cid), attrs))
        return False, merged_task_logs(sources, opts)

    async def _remote_log_sources(
        self, manager: SwarmManager, node_ids: set[str]
    ) -> dict[str, LogSource]:
        """The other nodes running these tasks, by their swarm port (mutual TLS)."""
        node_ids.discard(manager.node.node_id)
        # the node's certificate as its etcd client holds it (reloaded when renewed)
        ctx = self._etcd.client.ssl_context if self._etcd is not None else None
        if not node_ids or ctx is None:
            return {}
        endpoints = await manager.store.endpoints()
        return {n: RemoteLogs(endpoints[n], ctx) for n in node_ids if n in endpoints}
