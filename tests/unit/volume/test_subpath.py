"""Opening a volume's subpath beneath the volume (no mount needed for these)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.lib.fdtree import walk_beneath
from berthd.volume import subpath


@pytest.fixture()
def vol(tmp_path: Path) -> Path:
    base = tmp_path / "_data"
    (base / "sub" / "deep").mkdir(parents=True)
    (base / "sub" / "f").write_text("x")
    (base / "inner").symlink_to("sub")
    (base / "abs").symlink_to("/")
    (base / "up").symlink_to("../..")
    (tmp_path / "outside").mkdir()
    return base


@pytest.mark.parametrize("sub", ["abs", "up", "up/outside", "sub/../up"])
def test_escape_refused(vol: Path, tmp_path: Path, sub: str) -> None:
    with pytest.raises(errdefs.InvalidParameter) as e:
        subpath.join(str(vol), sub, str(tmp_path / "safe"))
    assert str(e.value) == (
        f"path concatenation escapes the base directory, base: {vol}, subpath: {sub}"
    )
    assert not (tmp_path / "safe").exists()


def test_missing_refused_with_the_first_missing_part(vol: Path, tmp_path: Path) -> None:
    with pytest.raises(errdefs.NotFound) as e:
        subpath.join(str(vol), "sub/nope/x", str(tmp_path / "safe"))
    assert str(e.value) == (
        f"cannot access path {vol}/sub/nope/x: lstat {vol}/sub/nope: no such file or directory"
    )


def test_walk_without_openat2(vol: Path) -> None:
    """The fallback walk: no symlink at all, and ``..`` never above the root."""
    root = os.open(vol, os.O_PATH | os.O_DIRECTORY)
    try:
        fd = walk_beneath(root, "sub/./deep/..")
        try:
            assert os.path.samestat(os.fstat(fd), os.stat(vol / "sub"))
        finally:
            os.close(fd)
        for sub, code in (
            ("inner", errno.ELOOP),
            ("abs/etc", errno.ELOOP),
            ("sub/../..", errno.EXDEV),
        ):
            with pytest.raises(OSError) as e:
                walk_beneath(root, sub)
            assert e.value.errno == code
    finally:
        os.close(root)


def _mount_points() -> list[str]:
    return [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]


@pytest.mark.skipif(os.geteuid() != 0, reason="bind mounts need root")
def test_join_binds_and_sweep_removes(vol: Path, tmp_path: Path) -> None:
    where = tmp_path / "safe" / "cid"
    safe = subpath.join(str(vol), "inner", str(where))
    try:
        assert safe.path in _mount_points()
        assert (Path(safe.path) / "f").read_text() == "x"
        file_safe = subpath.join(str(vol), "sub/f", str(where))
        assert Path(file_safe.path).read_text() == "x"
    finally:
        subpath.sweep_all(str(tmp_path / "safe"))
    assert not where.exists()
    assert not [m for m in _mount_points() if m.startswith(str(tmp_path))]
    assert (vol / "sub" / "f").read_text() == "x"
