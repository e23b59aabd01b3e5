from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from berthd.errdefs import DataLoss
from berthd.volume.metadata import MetadataDB, VolumeRecord


def test_records_survive_reopen_and_keep_null_apart_from_empty(tmp_path: Path) -> None:
    path = str(tmp_path / "metadata.db")
    db = MetadataDB(path)
    db.put(VolumeRecord("a", "local", None, None, 1))
    db.put(VolumeRecord("b", "plug", {"x": "1"}, {}, 2))
    db.close()
    db = MetadataDB(path)
    assert db.all() == [
        VolumeRecord("a", "local", None, None, 1),
        VolumeRecord("b", "plug", {"x": "1"}, {}, 2),
    ]
    assert db.get("b") == VolumeRecord("b", "plug", {"x": "1"}, {}, 2)
    assert db.get("nope") is None
    db.put(VolumeRecord("a", "local", {"new": ""}, None, 3))
    assert db.get("a") == VolumeRecord("a", "local", {"new": ""}, None, 3)
    db.delete("a")
    db.delete("a")
    assert [r.name for r in db.all()] == ["b"]
    db.close()


def test_uses_wal_and_a_schema_version(tmp_path: Path) -> None:
    path = str(tmp_path / "metadata.db")
    MetadataDB(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


def test_a_corrupt_file_is_data_loss(tmp_path: Path) -> None:
    path = tmp_path / "metadata.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(DataLoss, match="error while opening volume store metadata database"):
        MetadataDB(str(path))


def test_a_failed_write_leaves_the_old_record(tmp_path: Path) -> None:
    db = MetadataDB(str(tmp_path / "metadata.db"))
    db.put(VolumeRecord("a", "local", {"k": "v"}, None, 1))
    with pytest.raises(sqlite3.IntegrityError):
        db.put(VolumeRecord("a", None, None, None, 2))  # type: ignore[arg-type]
    assert db.get("a") == VolumeRecord("a", "local", {"k": "v"}, None, 1)
    db.close()
