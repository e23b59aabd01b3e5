from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from berthd.errdefs import Conflict, InvalidParameter, NotFound
from berthd.volume import DriverRegistry, LocalDriver, PluginDirs, VolumeStore


def test_create_records_the_volume_and_returns_it(store: VolumeStore, root: Path) -> None:
    res = store.create("v1", "", None, {"a": "b"})
    assert res.created
    v = res.volume
    assert (v.name, v.driver, v.scope) == ("v1", "local", "local")
    assert v.mountpoint == str(root / "v1" / "_data")
    assert v.labels == {"a": "b"} and v.options is None
    again = store.create("v1", "local", {"type": "tmpfs", "device": "tmpfs"}, {"other": ""})
    assert not again.created
    assert again.volume.labels == {"a": "b"}  # an existing volume is returned as it is


def test_errors_carry_the_operation_and_name(store: VolumeStore) -> None:
    with pytest.raises(InvalidParameter, match=r'^create v1: invalid option: "foo"$'):
        store.create("v1", "", {"foo": "x"})
    with pytest.raises(InvalidParameter, match=r"^create x: volume name is too short"):
        store.create("x")
    with pytest.raises(NotFound, match=r"^get nope: no such volume$"):
        store.get("nope")
    with pytest.raises(NotFound, match=r"^get nope: no such volume$"):
        store.remove("nope")
    assert store.remove("nope", force=True) is None
    assert not store.exists("v1")


def test_references_block_remove_even_with_force(store: VolumeStore, root: Path) -> None:
    store.create("used", ref="c2")
    store.get("used", ref="c1")
    assert store.refs("used") == ["c1", "c2"]
    for force in (False, True):
        with pytest.raises(Conflict) as e:
            store.remove("used", force=force)
        assert str(e.value) == "remove used: volume is in use - [c1, c2]"
    store.release("used", "c1")
    store.release("used", "c1")
    store.release("used", "c2")
    assert not store.has_refs("used")
    assert store.remove("used") is not None
    assert not (root / "used").exists()
    with pytest.raises(NotFound):
        store.get("used")


def test_driver_mismatch(store: VolumeStore) -> None:
    store.create("v1")
    with pytest.raises(
        Conflict, match=r"^get v1: provided volume driver does not match stored driver$"
    ):
        store.get("v1", driver="other")


def test_unknown_driver_is_not_found(store: VolumeStore) -> None:
    with pytest.raises(NotFound) as e:
        store.create("v1", "nosuch")
    assert (
        str(e.value)
        == 'create v1: error looking up volume plugin nosuch: plugin "nosuch" not found'
    )
    assert not store.exists("v1")


def test_data_and_records_survive_restart_refs_do_not(root: Path, plugin_dirs: PluginDirs) -> None:
    def open_store() -> VolumeStore:
        return VolumeStore(str(root), DriverRegistry(LocalDriver(str(root)), plugin_dirs))

    s = open_store()
    s.create("keep", "", {}, {"l": "1"}, ref="c1")
    (root / "keep" / "_data" / "f").write_text("data")
    s.close()
    s = open_store()
    v = s.get("keep")
    assert v.labels == {"l": "1"} and v.options == {}
    assert (Path(v.mountpoint) / "f").read_text() == "data"
    assert s.refs("keep") == []  # the container code re-adds them at restore
    s.get("keep", ref="c1")
    assert s.refs("keep") == ["c1"]
    s.close()


def test_restore_reconciles_records_with_directories(root: Path, plugin_dirs: PluginDirs) -> None:
    s = VolumeStore(str(root), DriverRegistry(LocalDriver(str(root)), plugin_dirs))
    s.create("lost")
    s.close()
    shutil.rmtree(root / "lost")
    (root / "orphan" / "_data").mkdir(parents=True)  # a crash before the record was written
    s = VolumeStore(str(root), DriverRegistry(LocalDriver(str(root)), plugin_dirs))
    assert not s.exists("lost")
    assert s.get("orphan").driver == "local"
    assert [v.name for v in s.list()[0]] == ["orphan"]
    s.close()


def test_a_volume_whose_data_vanished_is_purged_on_get(store: VolumeStore, root: Path) -> None:
    store.create("flaky")
    store.drivers.local.remove("flaky")  # behind the store's back
    with pytest.raises(NotFound, match=r"^get flaky: no such volume$"):
        store.get("flaky")
    assert not store.exists("flaky")
    assert store.create("flaky").created


def test_list_is_sorted_and_wrapped(store: VolumeStore) -> None:
    store.create("bb", labels={"x": "y"})
    store.create("aa", opts={})
    vols, warnings = store.list()
    assert warnings == []
    assert [(v.name, v.labels, v.options) for v in vols] == [
        ("aa", None, {}),
        ("bb", {"x": "y"}, None),
    ]


def test_mount_and_unmount_plain_volume(store: VolumeStore, root: Path) -> None:
    store.create("mv", ref="c1")
    assert store.mount("mv", "mount-1") == str(root / "mv" / "_data")
    store.unmount("mv", "mount-1")
    with pytest.raises(NotFound, match=r"^get nope: no such volume$"):
        store.mount("nope", "x")
    with pytest.raises(NotFound):
        store.unmount("nope", "x")
    store.live_restore("mv", "c2")
    assert store.refs("mv") == ["c1", "c2"]
    assert store.data_path("mv") == str(root / "mv" / "_data")
    assert store.data_path("nope") == ""
