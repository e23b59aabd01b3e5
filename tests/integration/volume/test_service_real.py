"""The volume service on a real file system: tmpfs and bind volumes, restarts, kill -9, plugins."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from berthd.daemon.volumes import VolumesService
from berthd.errdefs import Conflict
from berthd.lib.filters import FilterArgs
from berthd.volume import PluginDirs
from berthd.volume.mountopts import is_mounted
from tests.unit.volume.plugin_server import VolumePlugin

pytestmark = pytest.mark.integration


def read(path: Path) -> str:
    return path.read_text()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def findmnt(path: str) -> str:
    argv = ["findmnt", "-n", "-o", "FSTYPE,OPTIONS", path]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


async def test_tmpfs_volume_lives_while_mounted(service: VolumesService) -> None:
    vol = await service.get_or_create(
        "scratch", opts={"type": "tmpfs", "device": "tmpfs", "o": "size=4m,mode=1777"}, ref="c1"
    )
    path = await service.mount("scratch", "c1-mount")
    assert path == vol.mountpoint and is_mounted(path)
    fstype = await asyncio.to_thread(findmnt, path)
    assert fstype.startswith("tmpfs") and "size=4096k" in fstype
    await asyncio.to_thread(write, Path(path, "f"), "hello")
    with pytest.raises(Conflict):
        await service.remove("scratch")
    await service.unmount("scratch", "c1-mount")
    assert not is_mounted(path)
    await service.release("scratch", "c1")
    await service.remove("scratch")
    assert not await asyncio.to_thread(os.path.exists, path)


async def test_bind_volume_of_a_host_directory(service: VolumesService, base: Path) -> None:
    host = base / "host"
    host.mkdir()
    await asyncio.to_thread(write, host / "existing", "from host")
    await service.create("hostdir", "local", {"type": "none", "device": str(host), "o": "bind"})
    path = await service.mount("hostdir", "m1")
    assert await asyncio.to_thread(read, Path(path, "existing")) == "from host"
    await asyncio.to_thread(write, Path(path, "written"), "from volume")
    await service.unmount("hostdir", "m1")
    await service.remove("hostdir")
    assert await asyncio.to_thread(read, host / "written") == "from volume"
    assert (host / "existing").exists()


async def test_data_and_refs_after_a_restart(base: Path, plugin_dirs: PluginDirs) -> None:
    data_root = str(base / "data")
    svc = await VolumesService.open(data_root, None, plugin_dirs)
    vol = await svc.get_or_create("persist", labels={"k": "v"}, ref="ctr1")
    anon = await svc.get_or_create("", ref="ctr2")
    tmp = await svc.get_or_create("live", opts={"type": "tmpfs", "device": "tmpfs"}, ref="ctr3")
    await svc.mount("live", "ctr3")
    await asyncio.to_thread(write, Path(vol.mountpoint, "f"), "kept")
    await svc.shutdown()  # the daemon stops; the running container keeps its mount

    svc = await VolumesService.open(data_root, None, plugin_dirs)
    try:
        listing = await svc.list_volumes(FilterArgs())
        assert sorted(v["Name"] for v in listing["Volumes"]) == sorted(
            [anon.name, "live", "persist"]
        )
        assert await asyncio.to_thread(read, Path(vol.mountpoint, "f")) == "kept"
        assert (await svc.inspect("persist"))["Labels"] == {"k": "v"}
        # nothing references anything until the containers are restored …
        assert not svc.is_in_use("persist")
        await svc.get("persist", ref="ctr1")
        await svc.get(anon.name, ref="ctr2")
        await svc.live_restore("live", "ctr3")
        assert svc.refs("persist") == ["ctr1"] and svc.is_in_use(anon.name)
        assert (await svc.prune(FilterArgs()))["VolumesDeleted"] == []
        # … and a live-restored tmpfs is unmounted by its last user
        assert is_mounted(tmp.mountpoint)
        await svc.unmount("live", "ctr3")
        assert not is_mounted(tmp.mountpoint)
    finally:
        await svc.shutdown()


_CREATOR = """
import sys
from berthd.volume import DriverRegistry, LocalDriver, VolumeStore
root = sys.argv[1]
store = VolumeStore(root, DriverRegistry(LocalDriver(root)))
print("ready", flush=True)
i = 0
while True:
    store.create(f"v{i}", labels={"n": str(i)})
    if i % 3 == 0:
        store.remove(f"v{i}")
    i += 1
"""


def test_kill_9_never_leaves_half_a_volume(base: Path) -> None:
    root = base / "data" / "volumes"
    root.mkdir(parents=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _CREATOR, str(root)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    db = sqlite3.connect(str(root / "metadata.db"))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    recorded = {r[0] for r in db.execute("SELECT name FROM volumes")}
    db.close()
    assert len(recorded) > 5

    from berthd.volume import DriverRegistry, LocalDriver, VolumeStore

    store = VolumeStore(str(root), DriverRegistry(LocalDriver(str(root))))
    try:
        vols, _ = store.list()
        names = {v.name for v in vols}
        dirs = {d.name for d in root.iterdir() if d.is_dir()}
        assert names == dirs  # every volume has its directory and its record
        # only the volume in flight at the kill can be a half-done create or remove
        assert len([n for n in names if int(n[1:]) % 3 == 0]) <= 1
        labels = {n: store.get(n).labels for n in names}
        assert len([n for n, lab in labels.items() if lab is None]) <= 1  # dir made, no commit
        for name, lab in labels.items():
            assert lab is None or lab == {"n": name[1:]}
    finally:
        store.close()


async def test_plugin_volume_through_the_service(
    service: VolumesService, plugin: VolumePlugin
) -> None:
    created = await service.create("pv", "itvol", {"size": "1"}, {"x": "y"})
    assert created["Driver"] == "itvol" and created["Mountpoint"] == ""
    path = await service.mount("pv", "m1")
    assert path == str(plugin.state / "pv")
    inspected = await service.inspect("pv")
    assert inspected["Mountpoint"] == path and inspected["Status"] == {"hello": "world"}
    assert inspected["Options"] == {"size": "1"} and inspected["Labels"] == {"x": "y"}
    assert "itvol" in service.driver_names()
    listing = await service.list_volumes(FilterArgs({"driver": ["itvol"]}))
    assert [v["Name"] for v in listing["Volumes"]] == ["pv"]
    await service.unmount("pv", "m1")
    # plugin volumes are not pruned: they may hold data elsewhere
    assert (await service.prune(FilterArgs({"all": ["true"]})))["VolumesDeleted"] == []
    await service.remove("pv")
    assert plugin.volumes == {}


async def test_spec_file_plugin(
    service: VolumesService, base: Path, plugin_dirs: PluginDirs
) -> None:
    sock = base / "elsewhere" / "p.sock"
    p = VolumePlugin(sock, base / "spec-state").start()
    try:
        spec = Path(plugin_dirs.specs[0], "specvol.spec")
        await asyncio.to_thread(write, spec, f"unix://{sock}\n")
        await service.create("sv", "specvol")
        assert "sv" in p.volumes
        await service.remove("sv")
    finally:
        p.stop()
