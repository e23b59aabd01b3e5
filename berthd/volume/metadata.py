"""``<data-root>/volumes/metadata.db``: what the daemon records about each volume.

dockerd keeps this in boltdb; berthd uses SQLite (WAL, synchronous=FULL) with
its own schema. Each change is one transaction, so a ``kill -9`` at any
instant leaves the old record or the new one, never half of one. The driver
owns the data; this only says which driver has the volume and the labels and
options it was created with.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from berthd.errdefs import DataLoss

__all__ = ["MetadataDB", "VolumeRecord"]

_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS volumes (
    name       TEXT PRIMARY KEY NOT NULL,
    driver     TEXT NOT NULL,
    labels     TEXT NOT NULL,   -- JSON object or null
    options    TEXT NOT NULL,   -- JSON object or null
    created_ns INTEGER NOT NULL
) WITHOUT ROWID
"""


@dataclass(frozen=True)
class VolumeRecord:
    name: str
    driver: str
    labels: Mapping[str, str] | None = None
    options: Mapping[str, str] | None = None
    created_ns: int = 0


def _dump(value: Mapping[str, str] | None) -> str:
    return orjson.dumps(None if value is None else dict(value)).decode()


def _load(text: str) -> dict[str, str] | None:
    value: Any = orjson.loads(text)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise DataLoss(f"volume metadata: expected an object, got {text!r}")
    return {str(k): str(v) for k, v in value.items()}


class MetadataDB:
    """Blocking; safe to use from several threads (one connection, one lock)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE … COMMIT)
            self._conn = sqlite3.connect(
                path, timeout=5.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            with self._tx():
                self._conn.execute(_SCHEMA)
                version = self._conn.execute("PRAGMA user_version").fetchone()[0]
                if version == 0:
                    self._conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
                elif version != _SCHEMA_VERSION:
                    raise DataLoss(f"{path}: unknown schema version {version}")
        except sqlite3.DatabaseError as e:
            raise DataLoss(
                f"error while opening volume store metadata database ({path}): {e}"
            ) from e

    def _tx(self) -> _Transaction:
        return _Transaction(self._conn)

    def put(self, rec: VolumeRecord) -> None:
        with self._lock, self._tx():
            self._conn.execute(
                "INSERT OR REPLACE INTO volumes(name, driver, labels, options, created_ns) "
                "VALUES (?, ?, ?, ?, ?)",
                (rec.name, rec.driver, _dump(rec.labels), _dump(rec.options), rec.created_ns),
            )

    def delete(self, name: str) -> None:
        with self._lock, self._tx():
            self._conn.execute("DELETE FROM volumes WHERE name = ?", (name,))

    def get(self, name: str) -> VolumeRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT name, driver, labels, options, created_ns FROM volumes WHERE name = ?",
                (name,),
            ).fetchone()
        return None if row is None else _record(row)

    def all(self) -> list[VolumeRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, driver, labels, options, created_ns FROM volumes ORDER BY name"
            ).fetchall()
        return [_record(r) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _record(row: tuple[Any, ...]) -> VolumeRecord:
    return VolumeRecord(row[0], row[1], _load(row[2]), _load(row[3]), int(row[4]))


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK if the body raised."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._conn.execute("COMMIT")
        else:
            self._conn.execute("ROLLBACK")
