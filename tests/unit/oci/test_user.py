from __future__ import annotations

import os
from pathlib import Path

import pytest

from berthd.errdefs import InvalidParameter
from berthd.oci.rootfs import read_file_in_root
from berthd.oci.user import get_additional_groups, resolve_user, spec_user

PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
wheel:x:10:app,other
audio:x:29:app
app:x:1000:
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> str:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(PASSWD)
    (tmp_path / "etc/group").write_text(GROUP)
    return str(tmp_path)


def test_default_is_root(rootfs: str) -> None:
    u = resolve_user(rootfs, "")
    assert (u.uid, u.gid, u.home) == (0, 0, "/root")


def test_named_user_with_supplementary_groups(rootfs: str) -> None:
    u = resolve_user(rootfs, "app")
    assert (u.uid, u.gid, u.sgids, u.home) == (1000, 1000, [10, 29], "/home/app")
    # an explicit group drops the supplementary ones
    u = resolve_user(rootfs, "app:audio")
    assert (u.uid, u.gid, u.sgids) == (1000, 29, [])


def test_numeric_ids_need_no_entry(rootfs: str) -> None:
    u = resolve_user(rootfs, "4242:4343")
    assert (u.uid, u.gid, u.home) == (4242, 4343, "/")
    assert resolve_user(rootfs, "1000").home == "/home/app"


def test_errors(rootfs: str) -> None:
    with pytest.raises(InvalidParameter) as ei:
        resolve_user(rootfs, "foo")
    assert str(ei.value) == "unable to find user foo: no matching entries in passwd file"
    with pytest.raises(InvalidParameter) as ei:
        resolve_user(rootfs, "app:nogroup")
    assert str(ei.value) == "unable to find group nogroup: no matching entries in group file"
    with pytest.raises(InvalidParameter, match="uids and gids must be in range"):
        resolve_user(rootfs, "99999999999")


def test_group_add_and_spec_user(rootfs: str) -> None:
    assert get_additional_groups(rootfs, ["audio", "10", "777"]) == [29, 10, 777]
    with pytest.raises(InvalidParameter, match="Unable to find group nope"):
        get_additional_groups(rootfs, ["nope"])
    u, home = spec_user(rootfs, "app", ["777"])
    assert u == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10, 29, 777]}
    assert home == "/home/app"


def test_missing_passwd_file(tmp_path: Path) -> None:
    assert resolve_user(str(tmp_path), "").uid == 0
    assert resolve_user(str(tmp_path), "12:34").gid == 34
    with pytest.raises(InvalidParameter, match="unable to find user app"):
        resolve_user(str(tmp_path), "app")


def test_symlinks_cannot_escape_the_rootfs(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("evil:x:0:0::/evil:/bin/sh\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    # absolute and relative links that point "outside" resolve inside the root
    os.symlink(str(outside / "passwd"), root / "etc/passwd")
    os.symlink("../../../outside/passwd", root / "etc/group")
    assert read_file_in_root(str(root), "/etc/passwd") is None
    assert read_file_in_root(str(root), "/etc/group") is None
    with pytest.raises(InvalidParameter):
        resolve_user(str(root), "evil")
    # a link inside the root is followed within it
    (root / "real").mkdir()
    (root / "real/passwd").write_text(PASSWD)
    os.unlink(root / "etc/passwd")
    os.symlink("/real/passwd", root / "etc/passwd")
    assert resolve_user(str(root), "app").uid == 1000
    # a directory symlink to / climbs no higher than the root
    os.symlink("/", root / "up")
    assert read_file_in_root(str(root), "/up/../../real/passwd") == PASSWD.encode()


def test_fifo_and_loops_are_not_read(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    os.mkfifo(tmp_path / "etc/passwd")
    assert read_file_in_root(str(tmp_path), "/etc/passwd") is None  # and does not block
    os.symlink("/etc/loop", tmp_path / "etc/loop")
    assert read_file_in_root(str(tmp_path), "/etc/loop") is None
