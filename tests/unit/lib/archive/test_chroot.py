"""extract_in_root: hostile tars into hostile trees stay inside the root."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.lib.archive import archive_in_root, extract_in_root

from .tarbuild import E, build, d, f, hard, sym


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """(container root, host dir that must stay untouched)."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "victim").write_text("original")
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    return root, host


def _host_untouched(host: Path) -> None:
    assert sorted(os.listdir(host)) == ["victim"]
    assert (host / "victim").read_text() == "original"


def test_cve_2018_15664_symlink_to_slash(world: tuple[Path, Path]) -> None:
    root, host = world
    os.symlink("/", root / "escape")  # planted by the container
    os.symlink(str(host), root / "hostdir")  # an absolute link to the host path
    extract_in_root(io.BytesIO(build([f("pwned", b"x")])), str(root), "/escape")
    with pytest.raises(errdefs.NotFound):  # the host path does not exist in the root
        extract_in_root(io.BytesIO(build([f("victim", b"pwned")])), str(root), "/hostdir")
    _host_untouched(host)
    assert (root / "pwned").read_bytes() == b"x"  # "/" meant the container's root


def test_hostile_entries_resolve_inside_root(world: tuple[Path, Path]) -> None:
    root, host = world
    tar = build(
        [
            sym("a", str(host)),
            f("a/victim", b"pwned"),
            f("../../../" + str(host).lstrip("/") + "/x", b"x"),
            hard("h", str(host / "victim")),
        ]
    )
    try:
        extract_in_root(io.BytesIO(tar), str(root), "/etc")
    except errdefs.InvalidParameter:
        pass
    _host_untouched(host)


def test_keeps_modes_owners_devices(world: tuple[Path, Path]) -> None:
    root, _ = world
    tar = build(
        [
            d("bin"),
            f("bin/su", b"s", mode=0o4755, uid=1000, gid=1000),
            E("dev-null", b"3", mode=0o666, major=1, minor=3),
        ]
    )
    extract_in_root(io.BytesIO(gzip.compress(tar)), str(root), "/")
    st = os.lstat(root / "bin/su")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o4755, 1000, 1000)
    assert stat.S_ISCHR(os.lstat(root / "dev-null").st_mode)


def test_missing_destination_is_not_found(world: tuple[Path, Path]) -> None:
    root, _ = world
    with pytest.raises(errdefs.NotFound):
        extract_in_root(io.BytesIO(build([f("x")])), str(root), "/nope")


def test_no_overwrite_dir_nondir(world: tuple[Path, Path]) -> None:
    root, _ = world
    with pytest.raises(errdefs.Conflict):
        extract_in_root(io.BytesIO(build([f("etc")])), str(root), "/", no_overwrite_dir_nondir=True)
    assert (root / "etc").is_dir()


def test_garbage_is_invalid(world: tuple[Path, Path]) -> None:
    root, _ = world
    with pytest.raises(errdefs.InvalidParameter):
        extract_in_root(io.BytesIO(b"not a tar" * 100), str(root), "/")


def test_archive_in_root_resolves_inside(world: tuple[Path, Path]) -> None:
    root, host = world
    (root / "etc/conf").write_text("c")
    os.symlink("/", root / "escape")
    os.symlink(str(host), root / "etc/hostlink")
    data = b"".join(archive_in_root(str(root), "/escape/etc", "etc"))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        m = {x.name: x for x in tf.getmembers()}
    assert set(m) == {"etc", "etc/conf", "etc/hostlink"}
    assert m["etc/hostlink"].issym()  # archived as a link, never followed
    with pytest.raises(errdefs.NotFound):
        archive_in_root(str(root), "/escape" + str(host) + "/victim")
