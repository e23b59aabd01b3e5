"""LayerStore with both drivers: register, dedupe, refcounts, layout, restart, GC."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.layer import LayerStore, chain_id, new_driver
from tests.unit.lib.archive.tarbuild import build, d, f

BASE = build([d("etc"), f("etc/os-release", b"ID=test\n"), f("etc/passwd", b"root\n")])
TOP = build([d("etc"), f("etc/.wh.passwd", b""), f("etc/motd", b"hi\n")])


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def test_register_layout_as_dockerd(store: LayerStore, data_root: Path, driver_name: str) -> None:
    base = store.register(io.BytesIO(gzip.compress(BASE)))
    top = store.register(io.BytesIO(TOP), base.chain_id)
    assert base.chain_id == base.diff_id == sha(BASE)
    assert top.chain_id == chain_id(base.chain_id, sha(TOP))
    entry = data_root / "image" / driver_name / "layerdb" / "sha256" / top.chain_id[7:]
    assert (entry / "diff").read_text() == sha(TOP)
    assert (entry / "parent").read_text() == base.chain_id
    assert (entry / "size").read_text() == str(len(b"hi\n"))
    assert (entry / "cache-id").read_text() == top.cache_id
    assert (entry / "tar-split.berthd.gz").is_file()
    assert not (
        data_root / "image" / driver_name / "layerdb/sha256" / base.chain_id[7:] / "parent"
    ).exists()
    assert store.driver.exists(top.cache_id)
    assert store.total_size(top.chain_id) == len(b"ID=test\n") + len(b"root\n") + 3


def test_overlay2_driver_layout(data_root: Path) -> None:
    store = LayerStore(str(data_root), new_driver(str(data_root), "overlay2"))
    base = store.register(io.BytesIO(BASE))
    top = store.register(io.BytesIO(TOP), base.chain_id)
    root = data_root / "overlay2"
    link_b = (root / base.cache_id / "link").read_text()
    link_t = (root / top.cache_id / "link").read_text()
    assert len(link_t) == 26
    assert os.readlink(root / "l" / link_b) == f"../{base.cache_id}/diff"
    assert (root / top.cache_id / "lower").read_text() == f"l/{link_b}"
    assert (root / top.cache_id / "work").is_dir()
    assert not (root / base.cache_id / "lower").exists()
    wh = os.lstat(root / top.cache_id / "diff/etc/passwd")
    assert os.major(wh.st_rdev) == 0 and wh.st_mode & 0o170000 == 0o020000


def test_vfs_applies_whiteouts_as_deletions(data_root: Path) -> None:
    store = LayerStore(str(data_root), new_driver(str(data_root), "vfs"))
    base = store.register(io.BytesIO(BASE))
    top = store.register(io.BytesIO(TOP), base.chain_id)
    tree = data_root / "vfs" / "dir" / top.cache_id
    assert sorted(os.listdir(tree / "etc")) == ["motd", "os-release"]
    assert sorted(os.listdir(data_root / "vfs/dir" / base.cache_id / "etc")) == [
        "os-release",
        "passwd",
    ]


def test_register_twice_stores_once_and_counts(store: LayerStore) -> None:
    a = store.register(io.BytesIO(BASE))
    b = store.register(io.BytesIO(gzip.compress(BASE)))
    assert a == b
    assert store.references(a.chain_id) == 2
    assert len(store.driver.ids()) == 1
    assert store.release(a.chain_id) == []
    assert store.driver.exists(a.cache_id)
    deleted = store.release(a.chain_id)
    assert [m.chain_id for m in deleted] == [a.chain_id]
    assert not store.driver.exists(a.cache_id)
    with pytest.raises(errdefs.NotFound):
        store.get(a.chain_id)


def test_layer_with_child_cannot_go(store: LayerStore) -> None:
    base = store.register(io.BytesIO(BASE))
    top = store.register(io.BytesIO(TOP), base.chain_id)
    assert store.release(base.chain_id) == []  # the child still holds it
    assert store.driver.exists(base.cache_id)
    deleted = store.release(top.chain_id)  # cascades down the chain
    assert [m.chain_id for m in deleted] == [top.chain_id, base.chain_id]
    assert store.driver.ids() == []


def test_release_unretained_is_conflict(store: LayerStore) -> None:
    base = store.register(io.BytesIO(BASE))
    top = store.register(io.BytesIO(TOP), base.chain_id)
    store.release(base.chain_id)
    with pytest.raises(errdefs.Conflict):  # an extra release cannot hurt the child
        store.release(base.chain_id)
    assert store.driver.exists(base.cache_id)
    assert len(store.release(top.chain_id)) == 2


def test_unknown_parent_is_not_found(store: LayerStore) -> None:
    with pytest.raises(errdefs.NotFound, match="layer does not exist"):
        store.register(io.BytesIO(TOP), "sha256:" + "0" * 64)


def test_expected_diff_id_mismatch_leaves_nothing(
    store: LayerStore, data_root: Path, driver_name: str
) -> None:
    with pytest.raises(errdefs.InvalidParameter, match="invalid diffID"):
        store.register(io.BytesIO(BASE), expected_diff_id="sha256:" + "1" * 64)
    assert store.layers() == {}
    assert store.driver.ids() == []
    db = data_root / "image" / driver_name / "layerdb"
    assert os.listdir(db / "sha256") == [] and os.listdir(db / "tmp") == []
    ok = store.register(io.BytesIO(BASE), expected_diff_id=sha(BASE))
    assert ok.diff_id == sha(BASE)


def test_failed_register_keeps_parent_count(store: LayerStore) -> None:
    base = store.register(io.BytesIO(BASE))
    with pytest.raises(errdefs.InvalidParameter):
        store.register(io.BytesIO(b"garbage" * 100), base.chain_id)
    assert store.references(base.chain_id) == 1
    assert store.dependents(base.chain_id) == 0


def test_tar_stream_is_exact(store: LayerStore) -> None:
    base = store.register(io.BytesIO(gzip.compress(BASE)))
    top = store.register(io.BytesIO(TOP), base.chain_id)
    assert b"".join(store.tar_stream(base.chain_id)) == BASE
    assert b"".join(store.tar_stream(top.chain_id)) == TOP


def test_restart_reloads_counts_and_gcs_garbage(data_root: Path, driver_name: str) -> None:
    store = LayerStore(str(data_root), new_driver(str(data_root), driver_name))
    base = store.register(io.BytesIO(BASE))
    top = store.register(io.BytesIO(TOP), base.chain_id)
    rw = store.create_rw_layer("c1", top.chain_id)
    # What a kill -9 mid-register leaves: an unreferenced driver dir, temp dirs.
    orphan = "f" * 64
    store.driver.create_rw(orphan, None)
    db = data_root / "image" / driver_name / "layerdb"
    (db / "tmp" / "write-set-123").mkdir()
    staging = Path(store.driver.root) / ".staging" / ("e" * 64)
    staging.mkdir()
    store.cleanup()

    again = LayerStore(str(data_root), new_driver(str(data_root), driver_name))
    assert set(again.layers()) == {base.chain_id, top.chain_id}
    assert again.dependents(base.chain_id) == 1  # the child
    assert again.dependents(top.chain_id) == 1  # the rw layer
    assert again.references(top.chain_id) == 0  # until the image store gets it
    assert again.get_rw_layer("c1") == rw
    assert not again.driver.exists(orphan)
    assert os.listdir(db / "tmp") == []
    assert not staging.exists()
    assert b"".join(again.tar_stream(top.chain_id)) == TOP
    again.release_rw_layer("c1")
    assert again.layers() == {}


def test_layer_with_missing_data_and_its_children_are_not_loaded(
    data_root: Path, driver_name: str
) -> None:
    store = LayerStore(str(data_root), new_driver(str(data_root), driver_name))
    base = store.register(io.BytesIO(BASE))
    top = store.register(io.BytesIO(TOP), base.chain_id)
    other = store.register(io.BytesIO(build([f("other")])))
    store.cleanup()
    store.driver.remove(base.cache_id)  # the disk lost the base layer's data
    again = LayerStore(str(data_root), new_driver(str(data_root), driver_name))
    assert set(again.layers()) == {other.chain_id}
    with pytest.raises(errdefs.NotFound):
        again.get(top.chain_id)
