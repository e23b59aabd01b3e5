from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from berthd.errdefs import InvalidParameter, NotFound, System
from berthd.volume import LocalDriver
from berthd.volume.mountopts import is_mounted
from tests.unit.volume.conftest import need_root

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


def test_create_makes_data_dir_and_is_idempotent(root: Path) -> None:
    d = LocalDriver(str(root))
    v = d.create("data", None)
    assert v.name == "data"
    assert v.mountpoint == str(root / "data" / "_data")
    assert (root / "data" / "_data").is_dir()
    assert oct((root / "data").stat().st_mode & 0o777) == oct(0o701)
    assert oct((root / "data" / "_data").stat().st_mode & 0o777) == oct(0o755)
    assert RFC3339.match(v.created_at)
    assert not (root / "data" / "opts.json").exists()
    (root / "data" / "_data" / "f").write_text("x")
    assert d.create("data", {"type": "tmpfs", "device": "tmpfs"}).mountpoint == v.mountpoint
    assert (root / "data" / "_data" / "f").read_text() == "x"
    assert [x.name for x in d.list()] == ["data"]


def test_create_refuses_bad_name_and_options(root: Path) -> None:
    d = LocalDriver(str(root))
    with pytest.raises(InvalidParameter):
        d.create("../x", None)
    with pytest.raises(InvalidParameter, match='invalid option: "foo"'):
        d.create("good", {"foo": "1"})
    assert not (root / "good").exists()


def test_options_are_kept_in_opts_json_and_reloaded(root: Path) -> None:
    d = LocalDriver(str(root))
    d.create("tt", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    data = json.loads((root / "tt" / "opts.json").read_text())
    assert data == {"MountType": "tmpfs", "MountOpts": "size=1m", "MountDevice": "tmpfs"}
    assert oct((root / "tt" / "opts.json").stat().st_mode & 0o777) == oct(0o600)
    again = LocalDriver(str(root))
    opts = again.options("tt")
    assert opts is not None and opts.mount_type == "tmpfs"


def test_remove_deletes_the_directory(root: Path) -> None:
    d = LocalDriver(str(root))
    d.create("gone", None)
    (root / "gone" / "_data" / "sub").mkdir()
    d.remove("gone")
    assert not (root / "gone").exists()
    assert d.get("gone") is None
    with pytest.raises(NotFound):
        d.remove("gone")


def test_restart_finds_existing_volumes_and_ignores_files(root: Path) -> None:
    d = LocalDriver(str(root))
    d.create("one", None)
    (root / "metadata.db").write_text("not a volume")
    again = LocalDriver(str(root))
    assert [v.name for v in again.list()] == ["one"]


def test_plain_volume_mount_is_its_directory(root: Path) -> None:
    d = LocalDriver(str(root))
    d.create("plain", None)
    assert d.mount("plain", "c1") == str(root / "plain" / "_data")
    assert not is_mounted(str(root / "plain" / "_data"))
    d.unmount("plain", "c1")
    d.remove("plain")


def test_tmpfs_volume_is_mounted_while_used_and_counted(root: Path) -> None:
    need_root()
    d = LocalDriver(str(root))
    d.create("tmp", {"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    data = str(root / "tmp" / "_data")
    assert not is_mounted(data)
    assert d.mount("tmp", "m1") == data
    assert is_mounted(data)
    Path(data, "f").write_text("in tmpfs")
    assert d.mount("tmp", "m2") == data
    assert d.active_mounts("tmp") == 2
    with pytest.raises(System, match="volume has active mounts"):
        d.remove("tmp")
    d.unmount("tmp", "m1")
    assert is_mounted(data)
    d.unmount("tmp", "m2")
    assert not is_mounted(data)
    assert not Path(data, "f").exists()  # the file was in the tmpfs
    d.remove("tmp")
    assert not (root / "tmp").exists()


def test_mount_failure_is_a_system_error_and_counts_nothing(root: Path) -> None:
    need_root()
    d = LocalDriver(str(root))
    d.create("bad", {"type": "none", "device": "/nonexistent/dir", "o": "bind"})
    with pytest.raises(System, match=r"^failed to mount local volume: mount /nonexistent/dir:"):
        d.mount("bad", "m1")
    assert d.active_mounts("bad") == 0
    d.remove("bad")


def test_bind_volume_remove_never_deletes_the_host_directory(root: Path, tmp_path: Path) -> None:
    need_root()
    host = tmp_path / "host"
    host.mkdir()
    (host / "keep").write_text("precious")
    d = LocalDriver(str(root))
    d.create("bind", {"type": "none", "device": str(host), "o": "bind"})
    data = d.mount("bind", "m1")
    assert Path(data, "keep").read_text() == "precious"
    Path(data, "new").write_text("via volume")
    d.unmount("bind", "m1")
    assert not is_mounted(data)
    d.remove("bind")
    assert (host / "keep").read_text() == "precious"
    assert (host / "new").read_text() == "via volume"


def test_restart_with_mounted_volume_then_live_restore(root: Path) -> None:
    need_root()
    d = LocalDriver(str(root))
    d.create("live", {"type": "tmpfs", "device": "tmpfs"})
    data = d.mount("live", "m1")
    # the daemon dies; the mount stays
    again = LocalDriver(str(root))
    assert again.active_mounts("live") == 0
    again.live_restore("live", "m1")
    assert again.active_mounts("live") == 1
    again.mount("live", "m2")  # no second mount on top
    assert Path("/proc/self/mountinfo").read_text().count(f" {data} ") == 1
    again.unmount("live", "m2")
    again.unmount("live", "m1")
    assert not is_mounted(data)
    again.remove("live")
    assert not os.path.exists(data)


def test_remove_refuses_outside_the_root(root: Path, tmp_path: Path) -> None:
    d = LocalDriver(str(root))
    d.create("escape", None)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("x")
    data = root / "escape" / "_data"
    data.rmdir()
    data.symlink_to(outside)
    with pytest.raises(
        System, match="unable to remove a directory outside of the local volume root"
    ):
        d.remove("escape")
    assert (outside / "f").exists()
