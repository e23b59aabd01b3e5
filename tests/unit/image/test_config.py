from __future__ import annotations

import hashlib

import pytest

from berthd import errdefs
from berthd.image.config import StoredConfig, parse_time_ns
from berthd.image.digest import chain_id, chain_ids, truncate_id

from .fakes import make_config, make_layer_tar


def test_id_is_sha256_of_raw_bytes_and_fields() -> None:
    raw = make_config([make_layer_tar({"a": b"1"})])
    cfg = StoredConfig.from_json(raw)
    assert cfg.id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert cfg.raw is raw
    assert cfg.architecture == "amd64" and cfg.operating_system() == "linux"
    assert cfg.labels() == {"a": "1"}
    assert cfg.platform() == {"architecture": "amd64", "os": "linux"}
    assert len(cfg.rootfs.diff_ids) == 1
    assert cfg.created_ns() == 1704164645_123456789


def test_whitespace_changes_id() -> None:
    raw = make_config([])
    assert StoredConfig.from_json(raw).id != StoredConfig.from_json(raw + b"\n").id


def test_rootfs_required_and_json_errors() -> None:
    with pytest.raises(errdefs.InvalidParameter, match="no RootFS key"):
        StoredConfig.from_json(b'{"os":"linux"}')
    with pytest.raises(errdefs.InvalidParameter):
        StoredConfig.from_json(b"{nope")
    with pytest.raises(errdefs.InvalidParameter):
        StoredConfig.from_json(b"[]")


def test_history_validation() -> None:
    raw = make_config([], history=[{"created_by": "x"}])
    with pytest.raises(errdefs.InvalidParameter, match="too many non-empty layers"):
        StoredConfig.from_json(raw).validate_history()
    ok = make_config([], history=[{"created_by": "x", "empty_layer": True}])
    StoredConfig.from_json(ok).validate_history()


def test_chain_id() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    assert chain_id([]) == ""
    assert chain_id([a]) == a
    expected = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_id([a, b]) == expected
    assert chain_ids([a, b]) == [a, expected]
    assert truncate_id(a) == "a" * 12


def test_parse_time_ns() -> None:
    assert parse_time_ns("1970-01-01T00:00:01Z") == 1_000_000_000
    assert parse_time_ns("1970-01-01T01:00:00+01:00") == 0
    assert parse_time_ns("1970-01-01T00:00:00.5Z") == 500_000_000
    with pytest.raises(ValueError):
        parse_time_ns("yesterday")
