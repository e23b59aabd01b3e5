"""Swarm objects in etcd: the key layout, versioned writes and unique names.

Keys live under ``/berthd/v1/``: ``cluster``, ``nodes/<id>``,
``services/<id>``, ``tasks/<id>``, ``secrets/<id>``, ``configs/<id>``, and
``names/<kind>/<lower-case name>`` → id for the kinds with unique names. An
object's ``Version.Index`` is its key's etcd ``mod_revision``: an update
carries the version the client read, and the write is a transaction that
compares it, so a stale version fails as SwarmKit's "update out of sequence"
(never a lost update). A create puts the object and its name key in one
transaction guarded by the name key's absence, so two creates of one name
cannot both succeed.

``endpoints/<node>`` is where a node's swarm port answers (for task logs).
Phase 1 adds ``leader`` (the elected leader's node ID, bound to a 3 s lease; its
``create_revision`` is the fencing token every leader write to ``tasks/`` compares),
``alive/<node>`` (a node's liveness, bound to its heartbeat lease) and
``status/<task>`` (a task's Status, written only by the node that runs it). ``tasks/``
holds the leader's half (spec, desired state, NodeID); a read of a task merges the two.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from berthd.cluster import Compare, EtcdClient, EtcdError, KeyValue, TxnOp
from berthd.daemon.cluster.specs import rpc_error
from berthd.errdefs import Conflict, System

__all__ = ["ALIVE", "LEADER", "NO_LEADER", "PREFIX", "STATUS", "NoLeader", "ObjectStore"]

log = logging.getLogger("berthd.cluster")

PREFIX = "/berthd/v1/"
LEADER = PREFIX + "leader"
ALIVE = PREFIX + "alive/"
STATUS = PREFIX + "status/"
ENDPOINTS = PREFIX + "endpoints/"
_NAMED = ("service", "secret", "config", "network")


NO_LEADER = (
    "The swarm does not have a leader. It's possible that too few managers are online. "
    "Make sure more than half of the managers are online."
)
_LEADER_CHECK_S = 1.0


class NoLeader(System):
    """The swarm's store cannot take a write: its etcd has no quorum, or the node's
    member does not answer. dockerd's 500 with SwarmKit's sentence (code Unknown)."""

    def __init__(self) -> None:
        super().__init__(f"rpc error: code = Unknown desc = {NO_LEADER}")


def _unavailable(e: EtcdError) -> NoLeader:
    log.info("swarm store: %s", e)
    return NoLeader()


def _decode(raw: bytes, revision: int) -> dict[str, Any]:
    """A stored object with its ``Version`` where dockerd puts it: right after the ID."""
    stored: dict[str, Any] = orjson.loads(raw)
    obj: dict[str, Any] = {"ID": stored.pop("ID", ""), "Version": {"Index": revision}}
    obj.update(stored)
    return obj


def _fenced(fence: Compare | None) -> list[Compare]:
    return [] if fence is None else [fence]


def _exists(key: str) -> Compare:
    """``key`` exists: its create_revision is not 0 (etcd compares GREATER)."""
    return Compare(key, 0, "CREATE", "GREATER")


class ObjectStore:
    """Typed access to the swarm's objects in etcd."""

    def __init__(self, client: EtcdClient) -> None:
        self.etcd = client
        self._leader_checked = 0.0
        self._leaderless = False

    async def leaderless(self) -> bool:
        """True while this node's etcd member knows no leader (no quorum). Asked of the
        member at most once a second: its status is local and immediate, where a write
        or a linearizable read without quorum hangs for etcd's 7 s request timeout.
        Reads are then served from the member's own copy (``serializable``), so the
        swarm can still be listed and inspected; writes fail at once with Swarm's
        sentence."""
        now = time.monotonic()
        if now - self._leader_checked >= _LEADER_CHECK_S:
            try:
                self._leaderless = not await self.etcd.has_leader()
            except EtcdError:
                self._leaderless = True
            self._leader_checked = now
        return self._leaderless

    async def _writable(self) -> None:
        if await self.leaderless():
            raise NoLeader()

    @staticmethod
    def key(kind: str, oid: str) -> str:
        return f"{PREFIX}{kind}s/{oid}" if kind != "cluster" else PREFIX + "cluster"

    @staticmethod
    def name_key(kind: str, name: str) -> str:
        return f"{PREFIX}names/{kind}/{name.lower()}"

    async def _range(self, read: Callable[[bool], Awaitable[list[KeyValue]]]) -> list[KeyValue]:
        """One read: linearizable while the member knows a leader, else from its own copy;
        a linearizable read that fails (the leader lost meanwhile: an election) is made
        again from the member's copy rather than failing the caller."""
        local = await self.leaderless()
        try:
            return await read(local)
        except EtcdError as e:
            if local:
                raise _unavailable(e) from None
            self._leader_checked = 0.0  # ask the member again at the next call
        try:
            return await read(True)
        except EtcdError as e:
            raise _unavailable(e) from None

    async def get(self, kind: str, oid: str) -> dict[str, Any] | None:
        async def read(local: bool) -> list[KeyValue]:
            kv = await self.etcd.get(self.key(kind, oid), local)
            if kv is None:
                return []
            status = await self.etcd.get(STATUS + oid, local) if kind == "task" else None
            return [kv] if status is None else [kv, status]

        kvs = await self._range(read)
        if not kvs:
            return None
        obj = _decode(kvs[0].value, kvs[0].mod_revision)
        if len(kvs) > 1:
            obj["Status"] = orjson.loads(kvs[1].value)
        return obj

    async def list(self, kind: str) -> list[dict[str, Any]]:
        async def read(local: bool) -> list[KeyValue]:
            kvs = await self.etcd.get_prefix(f"{PREFIX}{kind}s/", local)
            if kind == "task":
                kvs += await self.etcd.get_prefix(STATUS, local)
            return kvs

        objects, statuses = [], {}
        for kv in await self._range(read):
            if kv.key.startswith(STATUS):
                statuses[kv.key[len(STATUS) :]] = kv.value
            else:
                objects.append(_decode(kv.value, kv.mod_revision))
        for obj in objects:
            if obj["ID"] in statuses:
                obj["Status"] = orjson.loads(statuses[obj["ID"]])
        return objects

    async def put_status(self, task_id: str, status: dict[str, Any]) -> None:
        """The running node's half of a task: its Status (only that node writes it).
        Written only while the task exists, so a reaped task leaves no status behind."""
        key = self.key("task", task_id)
        await self._writable()
        try:
            await self.etcd.txn(
                [_exists(key)], [TxnOp("put", STATUS + task_id, orjson.dumps(status))]
            )
        except EtcdError as e:
            raise _unavailable(e) from None

    @staticmethod
    def _encode(obj: dict[str, Any]) -> bytes:
        return orjson.dumps({k: v for k, v in obj.items() if k != "Version"})

    async def create(
        self, kind: str, obj: dict[str, Any], name: str = "", fence: Compare | None = None
    ) -> int:
        """Put a new object (and its unique name); Conflict when the name is taken.
        With ``fence`` (the leader's token) the write fails once leadership is lost."""
        ops = [TxnOp("put", self.key(kind, obj["ID"]), self._encode(obj))]
        compare = [Compare(self.key(kind, obj["ID"]), 0, "CREATE"), *_fenced(fence)]
        if kind in _NAMED:
            nkey = self.name_key(kind, name)
            ops.append(TxnOp("put", nkey, obj["ID"].encode()))
            compare.append(Compare(nkey, 0, "CREATE"))
        await self._writable()
        try:
            result = await self.etcd.txn(compare, ops)
        except EtcdError as e:
            raise _unavailable(e) from None
        if not result.succeeded:
            if fence is not None:
                raise rpc_error(System, "update out of sequence")
            if kind == "service":
                raise rpc_error(
                    Conflict,
                    f"name conflicts with an existing object: service {name} already exists",
                )
            raise rpc_error(Conflict, f"{kind} {name} already exists")
        return result.revision

    async def update(
        self, kind: str, obj: dict[str, Any], version: int, fence: Compare | None = None
    ) -> int:
        """Replace an object if its version is still ``version`` (and, with ``fence``,
        the leader is still the one that holds that token)."""
        key = self.key(kind, obj.get("ID", "")) if kind != "cluster" else self.key(kind, "")
        await self._writable()
        try:
            result = await self.etcd.txn(
                [Compare(key, version), *_fenced(fence)], [TxnOp("put", key, self._encode(obj))]
            )
        except EtcdError as e:
            raise _unavailable(e) from None
        if not result.succeeded:
            raise rpc_error(System, "update out of sequence")
        return result.revision

    async def remove(
        self, kind: str, oid: str, name: str = "", fence: Compare | None = None
    ) -> bool:
        """Delete an object (a task with its status); False when ``fence`` failed."""
        ops = [TxnOp("delete", self.key(kind, oid))]
        if kind in _NAMED and name:
            ops.append(TxnOp("delete", self.name_key(kind, name)))
        if kind == "task":
            ops.append(TxnOp("delete", STATUS + oid))
        await self._writable()
        try:
            result = await self.etcd.txn(_fenced(fence), ops)
        except EtcdError as e:
            raise _unavailable(e) from None
        return result.succeeded

    async def put_endpoint(self, node_id: str, addr: str) -> None:
        """Where the node's swarm port answers (``host:port``): managers ask it for the
        logs of its tasks."""
        await self._writable()
        try:
            await self.etcd.put(ENDPOINTS + node_id, addr.encode())
        except EtcdError as e:
            raise _unavailable(e) from None

    async def endpoints(self) -> dict[str, str]:
        async def read(local: bool) -> list[KeyValue]:
            return await self.etcd.get_prefix(ENDPOINTS, local)

        return {kv.key[len(ENDPOINTS) :]: kv.value.decode() for kv in await self._range(read)}

    async def count(self, kind: str) -> int:
        local = await self.leaderless()
        try:
            return await self.etcd.count_prefix(f"{PREFIX}{kind}s/", local)
        except EtcdError as e:
            raise _unavailable(e) from None

    async def wipe(self) -> int:
        """Remove every key of the swarm (``swarm leave --force``)."""
        await self._writable()
        try:
            return await self.etcd.delete_prefix(PREFIX)
        except EtcdError as e:
            raise _unavailable(e) from None
