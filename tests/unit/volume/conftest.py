"""Volume fixtures: a fresh volumes root, plugin dirs of our own, no leftover mounts."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berthd.volume import DriverRegistry, LocalDriver, PluginDirs, VolumeStore
from berthd.volume.mountopts import is_mounted
from tests.unit.volume.plugin_server import VolumePlugin


def mounts_under(root: Path) -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split(" ")[4]
            if mp.startswith(str(root) + "/"):
                out.append(mp)
    return out


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    r = tmp_path / "volumes"
    yield r
    for m in sorted(mounts_under(tmp_path), reverse=True):  # a failed test must not leak
        subprocess.run(["umount", "-l", m], check=False)
    assert not mounts_under(tmp_path)


@pytest.fixture
def plugin_dirs() -> Iterator[PluginDirs]:
    # short: a unix socket path must fit in 108 bytes
    base = Path(tempfile.mkdtemp(prefix="bv-", dir="/tmp"))
    dirs = PluginDirs(sockets=str(base / "run"), specs=(str(base / "etc"), str(base / "lib")))
    yield dirs
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def plugin(plugin_dirs: PluginDirs, tmp_path: Path) -> Iterator[VolumePlugin]:
    p = VolumePlugin(Path(plugin_dirs.sockets) / "testvol.sock", tmp_path / "plugin-state")
    p.start()
    yield p
    p.stop()


@pytest.fixture
def registry(root: Path, plugin_dirs: PluginDirs) -> DriverRegistry:
    return DriverRegistry(LocalDriver(str(root)), plugin_dirs, plugin_timeout=2.0)


@pytest.fixture
def store(root: Path, registry: DriverRegistry) -> Iterator[VolumeStore]:
    s = VolumeStore(str(root), registry)
    yield s
    s.close()


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting needs root")


__all__ = ["is_mounted", "mounts_under", "need_root"]
