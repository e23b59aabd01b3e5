"""``<data-root>/network/network.db``: networks and the endpoints that hold addresses.

SQLite (WAL, synchronous=FULL): an address is allocated in the same
transaction that records the endpoint holding it, and ``UNIQUE(network_id,
ip)`` makes the database itself refuse a second holder. Because endpoints of
running containers stay recorded while berthd is down, a restarted daemon
(live-restore) sees exactly which addresses are in use.
"""

from __future__ import annotations

import ipaddress
import os
import sqlite3
import threading
from collections.abc import Callable

import orjson

from berthd.errdefs import Conflict, Forbidden, InvalidParameter, NotFound
from berthd.network.ipam import IPNetwork, allocate_address
from berthd.network.model import Endpoint, Network

__all__ = ["NetworkStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id   TEXT PRIMARY KEY NOT NULL,
    name TEXT UNIQUE NOT NULL,
    json TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS endpoints (
    network_id   TEXT NOT NULL,
    container_id TEXT NOT NULL,
    ip           TEXT NOT NULL,
    json         TEXT NOT NULL,
    PRIMARY KEY (network_id, container_id),
    UNIQUE (network_id, ip)
) WITHOUT ROWID;
"""


class NetworkStore:
    """Blocking; one connection guarded by a lock (callers use ``asyncio.to_thread``)."""

    def __init__(self, directory: str) -> None:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self._db = sqlite3.connect(
            os.path.join(directory, "network.db"), check_same_thread=False, isolation_level=None
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- networks -----------------------------------------------------------------------
    def networks(self) -> list[Network]:
        with self._lock:
            rows = self._db.execute("SELECT json FROM networks").fetchall()
        return [Network.from_json(orjson.loads(r[0])) for r in rows]

    def put_network(self, net: Network) -> None:
        """Insert or replace; a second network with the same name is refused."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO networks (id, name, json) VALUES (?, ?, ?) "
                    "ON CONFLICT(id) DO UPDATE SET name = excluded.name, json = excluded.json",
                    (net.id, net.name, orjson.dumps(net.to_json()).decode()),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"network with name {net.name} already exists") from None

    def delete_network(self, net: Network) -> None:
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                (n,) = cur.execute(
                    "SELECT COUNT(*) FROM endpoints WHERE network_id = ?", (net.id,)
                ).fetchone()
                if n:
                    raise Forbidden(
                        f"error while removing network: network {net.name} id {net.id} "
                        "has active endpoints"
                    )
                cur.execute("DELETE FROM networks WHERE id = ?", (net.id,))
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    # -- endpoints ----------------------------------------------------------------------
    def endpoints(self, network_id: str | None = None) -> list[Endpoint]:
        with self._lock:
            if network_id is None:
                rows = self._db.execute("SELECT json FROM endpoints").fetchall()
            else:
                rows = self._db.execute(
                    "SELECT json FROM endpoints WHERE network_id = ?", (network_id,)
                ).fetchall()
        return [Endpoint.from_json(orjson.loads(r[0])) for r in rows]

    def container_endpoints(self, container_id: str) -> list[Endpoint]:
        with self._lock:
            rows = self._db.execute(
                "SELECT json FROM endpoints WHERE container_id = ?", (container_id,)
            ).fetchall()
        return [Endpoint.from_json(orjson.loads(r[0])) for r in rows]

    def allocate(
        self,
        net: Network,
        requested_ip: str,
        make: Callable[[str, str], Endpoint],
        requested_ip6: str = "",
    ) -> Endpoint:
        """Pick (or check) the addresses and record the endpoint, in one transaction.

        ``make(ip, ip6)`` builds the endpoint; ``ip6`` is "" on networks without IPv6.
        The IPv4 address is unique by the table's index, the IPv6 one by this check
        inside the same (immediate, so serialised) transaction."""
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                row = cur.execute("SELECT json FROM networks WHERE id = ?", (net.id,)).fetchone()
                if row is None:
                    raise NotFound(f"network {net.name} not found")
                current = Network.from_json(orjson.loads(row[0]))
                held = [
                    Endpoint.from_json(orjson.loads(r[0]))
                    for r in cur.execute(
                        "SELECT json FROM endpoints WHERE network_id = ?", (net.id,)
                    ).fetchall()
                ]
                ip = self._pick(
                    current, requested_ip, {e.ip for e in held} | set(current.aux.values()), 4
                )
                ip6 = ""
                if current.ipv6:
                    taken6 = {e.ip6 for e in held if e.ip6} | set(current.aux6.values())
                    ip6 = self._pick(current, requested_ip6, taken6, 6)
                net.last_ip, net.last_ip6 = current.last_ip, current.last_ip6
                ep = make(ip, ip6)
                cur.execute(
                    "INSERT INTO endpoints (network_id, container_id, ip, json) "
                    "VALUES (?, ?, ?, ?)",
                    (net.id, ep.container_id, ip, orjson.dumps(ep.to_json()).decode()),
                )
                cur.execute(
                    "UPDATE networks SET json = ? WHERE id = ?",
                    (orjson.dumps(current.to_json()).decode(), net.id),
                )
                cur.execute("COMMIT")
                return ep
            except sqlite3.IntegrityError:
                cur.execute("ROLLBACK")
                raise Conflict(
                    f"endpoint with name {ep.container_id[:12]} already exists in network "
                    f"{net.name}"
                ) from None
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    @staticmethod
    def _pick(current: Network, requested: str, taken: set[str], version: int) -> str:
        """The requested address checked, or the next free one (``last_ip*`` advanced)."""
        subnet_s, gateway = (
            (current.subnet, current.gateway)
            if version == 4
            else (current.subnet6, current.gateway6)
        )
        subnet = ipaddress.ip_network(subnet_s)
        if requested:
            return _check_requested(subnet, gateway, requested, taken)
        if version == 4:
            ip = allocate_address(subnet, gateway, current.ip_range, current.last_ip, taken)
            current.last_ip = ip
        else:
            ip = allocate_address(subnet, gateway, current.ip_range6, current.last_ip6, taken)
            current.last_ip6 = ip
        return ip

    def update_endpoint(self, ep: Endpoint) -> None:
        """Rewrite an endpoint's record (its addresses stay)."""
        with self._lock:
            self._db.execute(
                "UPDATE endpoints SET json = ? WHERE network_id = ? AND container_id = ?",
                (orjson.dumps(ep.to_json()).decode(), ep.network_id, ep.container_id),
            )

    def release(self, network_id: str, container_id: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM endpoints WHERE network_id = ? AND container_id = ?",
                (network_id, container_id),
            )


def _check_requested(subnet: IPNetwork, gateway: str, ip: str, taken: set[str]) -> str:
    """A static address (``--ip``/``--ip6``) in its normal form; dockerd's errors."""
    family = f"IPv{subnet.version}"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidParameter(f"invalid {family} address: {ip}") from None
    reserved = [subnet.network_address]
    if subnet.version == 4:
        reserved.append(subnet.broadcast_address)
    if addr.version != subnet.version or addr not in subnet or addr in reserved:
        raise InvalidParameter(
            f"invalid endpoint settings:\nno configured subnet or ip-range contain the IP "
            f"address {ip}"
        )
    if str(addr) == gateway or str(addr) in taken:
        raise Conflict(f"Address already in use: {ip}")
    return str(addr)
