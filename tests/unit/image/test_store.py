from __future__ import annotations

import logging
import os
import stat

import pytest

from berthd import errdefs
from berthd.image.digest import chain_ids
from berthd.image.fs_store import FSStoreBackend
from berthd.image.store import AmbiguousImageID, ImageStore

from .fakes import FakeLayerStore, diff_id_of, make_config, make_layer_tar, register_all


def _setup(tmp_path: str) -> tuple[FSStoreBackend, FakeLayerStore, ImageStore]:
    fs = FSStoreBackend(os.path.join(tmp_path, "imagedb"))
    layers = FakeLayerStore()
    return fs, layers, ImageStore(fs, layers)


def test_layout_and_modes(tmp_path: str) -> None:
    _, layers, store = _setup(str(tmp_path))
    tars = [make_layer_tar({"a": b"1"})]
    top = register_all(layers, tars)
    raw = make_config(tars)
    image_id = store.create(raw)
    path = os.path.join(tmp_path, "imagedb", "content", "sha256", image_id[7:])
    with open(path, "rb") as f:
        assert f.read() == raw
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    meta_root = os.path.join(tmp_path, "imagedb", "metadata", "sha256")
    assert stat.S_IMODE(os.stat(meta_root).st_mode) == 0o700
    assert layers.layers[top].refs == 2  # register + image
    assert store.create(raw) == image_id  # idempotent, no second reference
    assert layers.layers[top].refs == 2
    assert not [n for n in os.listdir(os.path.dirname(path)) if "tmp" in n]


def test_parent_metadata_children_and_delete(tmp_path: str) -> None:
    fs, layers, store = _setup(str(tmp_path))
    tars = [make_layer_tar({"a": b"1"})]
    register_all(layers, tars)
    parent = store.create(make_config(tars))
    tars2 = [*tars, make_layer_tar({"b": b"2"})]
    register_all(layers, tars2)
    child = store.create(make_config(tars2))
    store.set_parent(child, parent)
    meta = os.path.join(tmp_path, "imagedb", "metadata", "sha256", child[7:], "parent")
    with open(meta, "rb") as f:
        assert f.read() == parent.encode()
    assert store.get(child).parent == parent
    assert store.children(parent) == [child]
    assert set(store.heads()) == {child}
    assert set(store.map()) == {parent, child}
    store.set_last_updated(child)
    assert store.get_last_updated(child).endswith("Z")
    # a restart sees the same links
    store2 = ImageStore(fs, layers)
    assert store2.children(parent) == [child]
    # deleting the parent drops the child's link
    store.delete(parent)
    assert store.get_parent(child) == ""
    assert not os.path.exists(os.path.dirname(meta).replace(child[7:], parent[7:]))
    with pytest.raises(errdefs.NotFound):
        store.get(parent)
    with pytest.raises(errdefs.NotFound, match="unrecognized image ID"):
        store.delete(parent)


def test_delete_releases_layers(tmp_path: str) -> None:
    _, layers, store = _setup(str(tmp_path))
    tars = [make_layer_tar({"a": b"1"}), make_layer_tar({"b": b"2"})]
    top = register_all(layers, tars)
    image_id = store.create(make_config(tars))
    for cid in chain_ids([diff_id_of(t) for t in tars]):
        layers.release(cid)  # the registration references
    removed = store.delete(image_id)
    assert len(removed) == 2 and removed[0] == top
    assert not layers.layers


def test_create_requires_layer(tmp_path: str) -> None:
    _, _, store = _setup(str(tmp_path))
    with pytest.raises(errdefs.InvalidParameter, match="failed to get layer"):
        store.create(make_config([make_layer_tar({"a": b"1"})]))
    assert len(store) == 0


def test_search_prefix(tmp_path: str) -> None:
    _, _, store = _setup(str(tmp_path))
    ids = [store.create(make_config([], cmd=f"c{i}")) for i in range(40)]
    target = ids[0]
    assert store.search(target) == target
    assert store.search(target[7:]) == target
    assert store.search(target[7:19]) == target
    assert store.search("sha256:" + target[7:19]) == target
    with pytest.raises(errdefs.NotFound, match=r"^No such image: zzz$"):
        store.search("zzz")
    with pytest.raises(errdefs.NotFound):
        store.search("")
    # 40 IDs over 16 first hex digits: some first digit is shared
    firsts = [i[7] for i in ids]
    shared = next(c for c in firsts if firsts.count(c) > 1)
    with pytest.raises(AmbiguousImageID):
        store.search(shared)
    missing = (
        next(c for c in "0123456789abcdef" if c not in firsts) if len(set(firsts)) < 16 else None
    )
    if missing:
        with pytest.raises(errdefs.NotFound):
            store.search(missing)


def test_restore_skips_corrupt(tmp_path: str, caplog: pytest.LogCaptureFixture) -> None:
    fs, layers, store = _setup(str(tmp_path))
    good = store.create(make_config([]))
    bad = store.create(make_config([], cmd="other"))
    content = os.path.join(tmp_path, "imagedb", "content", "sha256")
    with open(os.path.join(content, bad[7:]), "wb") as f:
        f.write(b"garbage")
    with open(os.path.join(content, "not-a-digest"), "wb") as f:
        f.write(b"x")
    # an image whose layer is gone is skipped too
    tars = [make_layer_tar({"z": b"z"})]
    top = register_all(layers, tars)
    orphan = store.create(make_config(tars))
    del layers.layers[top]
    with caplog.at_level(logging.ERROR):
        store2 = ImageStore(fs, layers)
    assert store2.ids() == [good]
    assert bad[7:19] in caplog.text and orphan[7:19] in caplog.text


def test_fs_store_verifies_content(tmp_path: str) -> None:
    fs = FSStoreBackend(str(tmp_path))
    image_id = fs.set(b"{}")
    with open(os.path.join(tmp_path, "content", "sha256", image_id[7:]), "wb") as f:
        f.write(b"{ }")
    with pytest.raises(errdefs.DataLoss):
        fs.get(image_id)
    with pytest.raises(errdefs.InvalidParameter):
        fs.set(b"")
    with pytest.raises(errdefs.InvalidParameter):
        fs.get("sha256:../../etc")
    with pytest.raises(errdefs.InvalidParameter):
        fs.set_metadata(fs.set(b"[]"), "../x", b"")
