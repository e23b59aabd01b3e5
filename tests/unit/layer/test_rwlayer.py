"""Containers' rw layers on both drivers: init layer, mount, diff, commit, release."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.layer import LayerStore
from berthd.lib.archive import Change, ChangeKind
from tests.unit.lib.archive.tarbuild import build, d, f

IMAGE = build(
    [
        d("etc"),
        f("etc/passwd", b"root\n"),
        f("etc/group", b"root\n"),
        d("var"),
        d("var/cache"),
        f("var/cache/a", b"a"),
        f("var/cache/b", b"b"),
        d("opt"),
        f("opt/keep", b"k"),
    ]
)


@pytest.fixture
def image(store: LayerStore) -> str:
    return store.register(io.BytesIO(IMAGE)).chain_id


def _mutate(root: Path) -> None:
    (root / "etc/passwd").write_text("root\nuser\n")  # modify
    os.unlink(root / "etc/group")  # delete
    (root / "new.txt").write_text("new")  # add
    shutil.rmtree(root / "var/cache")  # delete a dir
    (root / "opt/sub").mkdir()  # add in an existing dir


def test_create_rw_layer_layout_and_init(
    store: LayerStore, image: str, data_root: Path, driver_name: str
) -> None:
    rw = store.create_rw_layer("c" * 64, image)
    assert rw.init_id == rw.mount_id + "-init"
    mdir = data_root / "image" / driver_name / "layerdb" / "mounts" / ("c" * 64)
    assert (mdir / "mount-id").read_text() == rw.mount_id
    assert (mdir / "init-id").read_text() == rw.init_id
    assert (mdir / "parent").read_text() == image
    root = Path(store.mount(rw.name))
    try:
        for p in ("etc/hosts", "etc/hostname", "etc/resolv.conf", ".dockerenv"):
            assert (root / p).is_file(), p
        for p in ("dev/shm", "dev/pts", "proc", "sys"):
            assert (root / p).is_dir(), p
        assert os.readlink(root / "etc/mtab") == "/proc/mounts"
        assert (root / "etc/passwd").read_bytes() == b"root\n"
        assert store.changes(rw.name) == []  # the init layer is not the container's change
    finally:
        store.unmount(rw.name)
    with pytest.raises(errdefs.Conflict, match="mount already exists with name"):
        store.create_rw_layer("c" * 64, image)


def test_mount_is_refcounted(store: LayerStore, image: str, driver_name: str) -> None:
    rw = store.create_rw_layer("c1", image)
    p1 = store.mount(rw.name)
    p2 = store.mount(rw.name)
    assert p1 == p2
    assert store.mount_count(rw.name) == 2
    store.unmount(rw.name)
    assert os.path.exists(os.path.join(p1, "etc/passwd"))
    with pytest.raises(errdefs.Conflict, match="mount still active"):
        store.release_rw_layer(rw.name)
    store.unmount(rw.name)
    assert store.mount_count(rw.name) == 0
    if driver_name == "overlay2":
        assert not os.path.ismount(p1)
    store.release_rw_layer(rw.name)
    with pytest.raises(errdefs.NotFound, match="mount does not exist"):
        store.mount(rw.name)


def test_changes_like_docker_diff(store: LayerStore, image: str) -> None:
    rw = store.create_rw_layer("c1", image)
    root = Path(store.mount(rw.name))
    try:
        _mutate(root)
        changes = sorted(store.changes(rw.name))
        assert store.rw_size(rw.name) == len("root\nuser\n") + len("new")
    finally:
        store.unmount(rw.name)
    assert changes == sorted(
        [
            Change("/etc", ChangeKind.MODIFY),
            Change("/etc/group", ChangeKind.DELETE),
            Change("/etc/passwd", ChangeKind.MODIFY),
            Change("/new.txt", ChangeKind.ADD),
            Change("/opt", ChangeKind.MODIFY),
            Change("/opt/sub", ChangeKind.ADD),
            Change("/var", ChangeKind.MODIFY),
            Change("/var/cache", ChangeKind.DELETE),
        ]
    )


def test_diff_tar_has_whiteouts(store: LayerStore, image: str) -> None:
    rw = store.create_rw_layer("c1", image)
    root = Path(store.mount(rw.name))
    try:
        _mutate(root)
        data = b"".join(store.diff_tar(rw.name))
    finally:
        store.unmount(rw.name)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = {m.name.rstrip("/") for m in tf.getmembers()}
    assert {"etc/.wh.group", "var/.wh.cache", "etc/passwd", "new.txt", "opt/sub"} <= names
    assert not any(n.startswith(("proc", "sys", "dev", ".dockerenv")) for n in names)


def test_commit_creates_layer_on_parent(store: LayerStore, image: str) -> None:
    rw = store.create_rw_layer("c1", image)
    root = Path(store.mount(rw.name))
    try:
        _mutate(root)
        os.chmod(root / "new.txt", 0o4755)
    finally:
        store.unmount(rw.name)
    layer = store.commit(rw.name)
    assert layer.parent == image
    assert b"".join(store.tar_stream(layer.chain_id))  # reproducible like any layer
    # A container from the committed layer sees the result.
    rw2 = store.create_rw_layer("c2", layer.chain_id)
    root2 = Path(store.mount(rw2.name))
    try:
        assert (root2 / "etc/passwd").read_text() == "root\nuser\n"
        assert not (root2 / "etc/group").exists()
        assert not (root2 / "var/cache").exists()
        assert (root2 / "opt/keep").exists()
        assert stat.S_IMODE(os.stat(root2 / "new.txt").st_mode) == 0o4755
    finally:
        store.unmount(rw2.name)
    store.release_rw_layer("c2")
    store.release_rw_layer("c1")
    assert [m.chain_id for m in store.release(layer.chain_id)] == [layer.chain_id]
    assert store.dependents(image) == 0


def test_export_rootfs(store: LayerStore, image: str) -> None:
    rw = store.create_rw_layer("c1", image)
    data = b"".join(store.export_rootfs(rw.name))
    assert store.mount_count(rw.name) == 0
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = {m.name.rstrip("/") for m in tf.getmembers()}
    assert {"etc/passwd", "etc/hosts", "opt/keep", "var/cache/a", "etc/mtab"} <= names
    store.release_rw_layer("c1")


def test_release_rw_layer_releases_parent(store: LayerStore, image: str) -> None:
    rw = store.create_rw_layer("c1", image)
    assert store.dependents(image) == 1
    assert store.release(image) == []  # the image's own reference
    deleted = store.release_rw_layer(rw.name)
    assert [m.chain_id for m in deleted] == [image]
    assert store.driver.ids() == []


def test_rw_layer_from_scratch(store: LayerStore) -> None:
    rw = store.create_rw_layer("c1", None)
    root = Path(store.mount(rw.name))
    try:
        (root / "x").write_text("1")
        assert Change("/x", ChangeKind.ADD) in store.changes(rw.name)
    finally:
        store.unmount(rw.name)
    layer = store.commit(rw.name)
    assert layer.parent is None
    store.release_rw_layer(rw.name)
    store.release(layer.chain_id)


def test_failing_init_func_leaves_nothing(store: LayerStore, image: str) -> None:
    def boom(path: str) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.create_rw_layer("c1", image, boom)
    assert store.rw_layers() == {}
    assert store.dependents(image) == 0
    assert len(store.driver.ids()) == 1
