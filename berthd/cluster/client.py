"""A small etcd v3 client over etcd's JSON gRPC gateway (``/v3/kv/*``).

etcd 3.4 serves the gateway on its client URL: keys and values are base64,
int64 fields are decimal strings and zero values are left out. aiohttp is
imported when the first client is made, so a daemon in no swarm never loads
the client side of it for this.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson

if TYPE_CHECKING:
    import ssl

    import aiohttp

__all__ = ["EtcdClient", "EtcdError", "KeyValue", "Lease", "Member", "TxnOp", "prefix_end"]


class EtcdError(Exception):
    """etcd could not be reached or answered an error."""


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int
    lease: int = 0


@dataclass(frozen=True)
class Lease:
    """A granted lease: its id and the TTL (seconds) etcd gave it."""

    id: int
    ttl: int


@dataclass(frozen=True)
class TxnOp:
    """One operation of a transaction: put ``value`` at ``key``, or delete ``key``
    (with ``prefix`` every key below it). A put with ``lease`` binds the key to that
    lease: it goes when the lease expires or is revoked."""

    kind: Literal["put", "delete"]
    key: str
    value: bytes = b""
    prefix: bool = False
    lease: int = 0


@dataclass(frozen=True)
class Compare:
    """``key``'s mod_revision (or create_revision) equals ``revision``; 0 means absent.
    ``result`` GREATER/LESS/NOT_EQUAL compare the other way."""

    key: str
    revision: int
    target: Literal["MOD", "CREATE"] = "MOD"
    result: Literal["EQUAL", "NOT_EQUAL", "GREATER", "LESS"] = "EQUAL"


@dataclass
class TxnResult:
    succeeded: bool
    revision: int
    responses: list[dict[str, Any]] = field(default_factory=list)


def _b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.b64encode(raw).decode()


def prefix_end(prefix: str) -> str:
    """The range end that selects every key starting with ``prefix``."""
    raw = bytearray(prefix.encode())
    raw[-1] += 1
    return raw.decode()


def _put_body(key: str, value: bytes, lease: int) -> dict[str, Any]:
    body: dict[str, Any] = {"key": _b64(key), "value": _b64(value)}
    if lease:
        body["lease"] = str(lease)
    return body


def _op(op: TxnOp) -> dict[str, Any]:
    if op.kind == "put":
        return {"request_put": _put_body(op.key, op.value, op.lease)}
    req: dict[str, Any] = {"key": _b64(op.key)}
    if op.prefix:
        req["range_end"] = _b64(prefix_end(op.key))
    return {"request_delete_range": req}


def _kv(raw: dict[str, Any]) -> KeyValue:
    return KeyValue(
        key=base64.b64decode(raw["key"]).decode(),
        value=base64.b64decode(raw.get("value", "")),
        create_revision=int(raw.get("create_revision", 0)),
        mod_revision=int(raw.get("mod_revision", 0)),
        lease=int(raw.get("lease", 0)),
    )


@dataclass(frozen=True)
class Member:
    """An etcd cluster member; ``name`` is "" until the member has started."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]


def _member(raw: dict[str, Any]) -> Member:
    return Member(
        id=int(raw.get("ID", 0)),
        name=str(raw.get("name", "")),
        peer_urls=tuple(raw.get("peerURLs") or ()),
        client_urls=tuple(raw.get("clientURLs") or ()),
    )


class EtcdClient:
    """The KV calls the swarm needs, against one client URL (``https://127.0.0.1:port``
    with ``ssl_context``, the node's certificate, or plain ``http://``)."""

    def __init__(
        self, url: str, timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self._timeout = timeout
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        return self._ssl

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True),
                trust_env=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import aiohttp

        try:
            async with self._http().post(self.url + path, data=orjson.dumps(body)) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise EtcdError(f"etcd at {self.url}: {e}") from e
        try:
            out = orjson.loads(raw) if raw else {}
        except orjson.JSONDecodeError:
            out = {}
        if status != 200 or not isinstance(out, dict):
            msg = out.get("message") or out.get("error") if isinstance(out, dict) else None
            raise EtcdError(f"etcd {path}: {msg or raw[:200]!r} (HTTP {status})")
        return out

    async def healthy(self) -> bool:
        import aiohttp

        try:
            async with self._http().get(self.url + "/health") as resp:
                body = await resp.read()
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
        try:
            return bool(orjson.loads(body).get("health") == "true")
        except (orjson.JSONDecodeError, AttributeError):
            return False

    async def has_leader(self) -> bool:
        """Whether this member knows a Raft leader (its status, answered locally and at
        once; without quorum a linearizable read or a write waits ~7 s and fails)."""
        out = await self._call("/v3/maintenance/status", {})
        return bool(out.get("leader")) and not out.get("errors")

    async def get(self, key: str, serializable: bool = False) -> KeyValue | None:
        """``serializable``: answered from this member's own copy, without the leader
        (what it has applied; works without quorum)."""
        body: dict[str, Any] = {"key": _b64(key)}
        if serializable:
            body["serializable"] = True
        out = await self._call("/v3/kv/range", body)
        kvs = out.get("kvs") or []
        return _kv(kvs[0]) if kvs else None

    async def get_prefix(self, prefix: str, serializable: bool = False) -> list[KeyValue]:
        body: dict[str, Any] = {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))}
        if serializable:
            body["serializable"] = True
        out = await self._call("/v3/kv/range", body)
        return [_kv(kv) for kv in out.get("kvs") or []]

    async def count_prefix(self, prefix: str, serializable: bool = False) -> int:
        body: dict[str, Any] = {
            "key": _b64(prefix),
            "range_end": _b64(prefix_end(prefix)),
            "count_only": True,
        }
        if serializable:
            body["serializable"] = True
        out = await self._call("/v3/kv/range", body)
        return int(out.get("count", 0))

    async def put(self, key: str, value: bytes, lease: int = 0) -> int:
        out = await self._call("/v3/kv/put", _put_body(key, value, lease))
        return int(out.get("header", {}).get("revision", 0))

    async def lease_grant(self, ttl: int) -> Lease:
        """A new lease of ``ttl`` seconds (etcd picks the id)."""
        out = await self._call("/v3/lease/grant", {"TTL": str(ttl)})
        if out.get("error"):
            raise EtcdError(f"etcd lease grant: {out['error']}")
        return Lease(id=int(out["ID"]), ttl=int(out.get("TTL", ttl)))

    async def lease_keepalive(self, lease: int) -> int:
        """Renews ``lease`` once; the TTL it has again, 0 when it has already expired
        (or was revoked): its keys are gone then and a new lease is needed.

        The gateway maps the keepalive stream to one request and one streamed answer
        (``{"result": {...}}``), which is all a periodic renewal needs."""
        out = await self._call("/v3/lease/keepalive", {"ID": str(lease)})
        result = out.get("result", out)
        if not isinstance(result, dict):
            return 0
        return int(result.get("TTL", 0))

    async def lease_revoke(self, lease: int) -> None:
        """Ends ``lease`` now and deletes its keys; an unknown lease is not an error."""
        try:
            await self._call("/v3/lease/revoke", {"ID": str(lease)})
        except EtcdError as e:
            if "lease not found" not in str(e):
                raise

    async def lease_ttl(self, lease: int) -> int:
        """The seconds ``lease`` has left, -1 when it does not exist (any more)."""
        out = await self._call("/v3/lease/timetolive", {"ID": str(lease)})
        return int(out.get("TTL", -1))

    async def delete_prefix(self, prefix: str) -> int:
        body = {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))}
        out = await self._call("/v3/kv/deleterange", body)
        return int(out.get("deleted", 0))

    async def txn(
        self, compare: list[Compare], success: list[TxnOp], failure: list[TxnOp] | None = None
    ) -> TxnResult:
        body: dict[str, Any] = {
            "compare": [
                {
                    "key": _b64(c.key),
                    "target": c.target,
                    "result": c.result,
                    ("mod_revision" if c.target == "MOD" else "create_revision"): str(c.revision),
                }
                for c in compare
            ],
            "success": [_op(op) for op in success],
            "failure": [_op(op) for op in failure or []],
        }
        out = await self._call("/v3/kv/txn", body)
        return TxnResult(
            succeeded=bool(out.get("succeeded", False)),
            revision=int(out.get("header", {}).get("revision", 0)),
            responses=list(out.get("responses") or []),
        )

    # -- membership (``/v3/cluster/member/*``) ----------------------------------------
    async def member_list(self) -> list[Member]:
        out = await self._call("/v3/cluster/member/list", {})
        return [_member(m) for m in out.get("members") or []]

    async def member_add(self, peer_url: str) -> tuple[Member, list[Member]]:
        """MemberAdd of a voting member at ``peer_url``: the new member and every member."""
        out = await self._call("/v3/cluster/member/add", {"peerURLs": [peer_url]})
        return _member(out.get("member") or {}), [_member(m) for m in out.get("members") or []]

    async def member_remove(self, member_id: int) -> None:
        await self._call("/v3/cluster/member/remove", {"ID": str(member_id)})
