"""Volume integration fixtures: a data-root and plugin dirs of our own; no mount left behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from berthd.daemon.volumes import VolumesService
from berthd.volume import PluginDirs
from tests.unit.volume.plugin_server import VolumePlugin

pytestmark = pytest.mark.integration


def mounts_under(root: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [ln.split(" ")[4] for ln in f if ln.split(" ")[4].startswith(str(root) + "/")]


@pytest.fixture
def base() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("volume integration tests need root (mounts)")
    # short: plugin sockets live here and a unix socket path must fit in 108 bytes
    d = Path(tempfile.mkdtemp(prefix="bvi-", dir="/tmp"))
    yield d
    for m in sorted(mounts_under(d), reverse=True):
        subprocess.run(["umount", "-l", m], check=False)
    leaked = mounts_under(d)
    shutil.rmtree(d, ignore_errors=True)
    assert not leaked


@pytest.fixture
def plugin_dirs(base: Path) -> PluginDirs:
    return PluginDirs(sockets=str(base / "run"), specs=(str(base / "etc"),))


@pytest.fixture
def plugin(base: Path, plugin_dirs: PluginDirs) -> Iterator[VolumePlugin]:
    p = VolumePlugin(Path(plugin_dirs.sockets) / "itvol.sock", base / "plugin-state").start()
    yield p
    p.stop()


@pytest_asyncio.fixture
async def service(base: Path, plugin_dirs: PluginDirs) -> AsyncIterator[VolumesService]:
    svc = await VolumesService.open(str(base / "data"), None, plugin_dirs, plugin_timeout=2)
    yield svc
    await svc.shutdown()
