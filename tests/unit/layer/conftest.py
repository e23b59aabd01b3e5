"""Layer store fixtures: a fresh data root per test, both drivers, no leftover mounts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from berthd.layer import LayerStore, new_driver
from berthd.layer.mounts import mountpoints


def _mounts_under(root: Path) -> list[str]:
    return [m for m in mountpoints() if m.startswith(str(root))]


@pytest.fixture
def data_root(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "data"
    root.mkdir()
    yield root
    for m in sorted(_mounts_under(root), reverse=True):  # a failed test must not leak
        os.system(f"umount -l {m!r}")
    assert not _mounts_under(root)


@pytest.fixture(params=["overlay2", "vfs"])
def driver_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(data_root: Path, driver_name: str) -> Iterator[LayerStore]:
    s = LayerStore(str(data_root), new_driver(str(data_root), driver_name))
    yield s
    s.cleanup()
