"""Driver choice, concurrency, and restart with live mounts."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.layer import LayerStore, Overlay2Driver, VfsDriver, new_driver
from berthd.layer.mounts import is_mountpoint
from tests.unit.lib.archive.tarbuild import build, d, f

TAR = build([d("a"), f("a/b", b"b" * 10_000)])


def test_auto_picks_overlay2_here(data_root: Path) -> None:
    drv = new_driver(str(data_root))
    assert isinstance(drv, Overlay2Driver)
    assert drv.root == str(data_root / "overlay2")
    assert isinstance(new_driver(str(data_root), "vfs"), VfsDriver)


def test_unknown_driver(data_root: Path) -> None:
    with pytest.raises(errdefs.InvalidParameter, match="driver not supported: zfs"):
        new_driver(str(data_root), "zfs")


def test_concurrent_identical_registers_store_once(store: LayerStore) -> None:
    results = []

    def reg() -> None:
        results.append(store.register(io.BytesIO(TAR)))

    threads = [threading.Thread(target=reg) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.chain_id for r in results}) == 1
    assert store.references(results[0].chain_id) == 4
    assert len(store.driver.ids()) == 1


def test_restart_adopts_live_mount(data_root: Path) -> None:
    """live-restore: a new daemon finds the container's rootfs still mounted."""
    s1 = LayerStore(str(data_root), new_driver(str(data_root), "overlay2"))
    layer = s1.register(io.BytesIO(TAR))
    s1.create_rw_layer("c", layer.chain_id)
    path = s1.mount("c")
    # no s1.cleanup(): the old daemon died with the mount in place
    s2 = LayerStore(str(data_root), new_driver(str(data_root), "overlay2"))
    assert s2.mount("c") == path  # adopted, not mounted twice
    assert s2.mount_count("c") == 1
    s2.unmount("c")
    assert not is_mountpoint(path)
    s2.release_rw_layer("c")  # nobody took the image again: all goes
    assert s2.layers() == {}
    assert os.listdir(Path(s2.driver.root) / "l") == []
