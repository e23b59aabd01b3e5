"""docker cp path rules and the stat header (moby archive.PreserveTrailingDotOrSeparator,
filepath.Base, os.FileMode bits, HasResource)."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import tarfile

import pytest

from berthd.api.routers.container_fs import encode_stat
from berthd.daemon.containers import cpchild
from berthd.daemon.containers.cpchild import (
    GO_CHARDEV,
    GO_DEVICE,
    GO_DIR,
    GO_SETUID,
    GO_STICKY,
    GO_SYMLINK,
    abs_path,
    go_base,
    go_file_mode,
    in_mount,
    preserve_trailing_dot_or_separator,
    rebase_name,
)


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("etc", "/etc"),
        ("/etc/", "/etc/"),
        ("/etc/.", "/etc/."),
        (".", "/."),
        ("/", "/"),
        ("a/../../b", "/b"),
        ("link/../../x", "/x"),
        ("//etc//passwd", "/etc/passwd"),
    ],
)
def test_abs_path_keeps_trailing_dot_and_slash(path: str, want: str) -> None:
    assert abs_path(path) == want


def test_preserve_trailing() -> None:
    assert preserve_trailing_dot_or_separator("/a", "/a/") == "/a/"
    assert preserve_trailing_dot_or_separator("/a", "/a/.") == "/a/."
    assert preserve_trailing_dot_or_separator("/a", "/a") == "/a"


@pytest.mark.parametrize(
    ("path", "base"),
    [("/etc/passwd", "passwd"), ("/etc/", "etc"), ("/etc/.", "."), ("/", "/"), ("", ".")],
)
def test_go_base(path: str, base: str) -> None:
    assert go_base(path) == base


def test_rebase_name_root_is_empty() -> None:
    assert rebase_name("/") == ""
    assert rebase_name("/etc/.") == "."
    assert rebase_name("/etc/") == "etc"


def test_go_file_mode_bits() -> None:
    assert go_file_mode(stat.S_IFDIR | 0o755) == GO_DIR | 0o755
    assert go_file_mode(stat.S_IFREG | 0o644) == 0o644
    assert go_file_mode(stat.S_IFLNK | 0o777) == GO_SYMLINK | 0o777
    assert go_file_mode(stat.S_IFCHR | 0o666) == GO_DEVICE | GO_CHARDEV | 0o666
    assert go_file_mode(stat.S_IFREG | stat.S_ISUID | 0o755) == GO_SETUID | 0o755
    assert go_file_mode(stat.S_IFDIR | stat.S_ISVTX | 0o777) == GO_DIR | GO_STICKY | 0o777


def test_in_mount() -> None:
    assert in_mount("/data", "/data")
    assert in_mount("/data", "/data/x/y")
    assert not in_mount("/data", "/database")
    assert not in_mount("/data", "/")


def test_stat_header_is_base64_json_in_go_order() -> None:
    st = {"linkTarget": "", "mtime": "2024-01-01T00:00:00Z", "mode": 420, "size": 3, "name": "f"}
    raw = base64.b64decode(encode_stat(st))
    assert raw == b'{"name":"f","size":3,"mode":420,"mtime":"2024-01-01T00:00:00Z","linkTarget":""}'
    assert json.loads(raw) == st


def test_stat_path_and_symlink_target(tmp_path: os.PathLike[str]) -> None:
    d = str(tmp_path)
    os.mkdir(os.path.join(d, "dir"))
    with open(os.path.join(d, "dir", "f"), "w") as f:
        f.write("abc")
    os.symlink("dir/f", os.path.join(d, "ln"))
    st = cpchild.stat_path(os.path.join(d, "dir", "f"))
    assert (st["name"], st["size"], st["mode"] & GO_DIR) == ("f", 3, 0)
    assert st["mtime"].endswith("Z")
    ln = cpchild.stat_path(os.path.join(d, "ln"))
    assert ln["mode"] & GO_SYMLINK
    assert ln["linkTarget"] == os.path.join(os.path.realpath(d), "dir", "f")
    with pytest.raises(cpchild._Fail) as e:
        cpchild.stat_path(os.path.join(d, "missing"))
    assert e.value.kind == "notfound"
    with pytest.raises(cpchild._Fail) as e:
        cpchild.stat_path(os.path.join(d, "dir", "f", "x"))
    assert e.value.kind == "system" and "not a directory" in str(e.value)


def _names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        return tf.getnames()


def test_write_tar_rebases_on_what_was_asked(tmp_path: os.PathLike[str]) -> None:
    d = os.path.join(str(tmp_path), "src")
    os.makedirs(os.path.join(d, "sub"))
    with open(os.path.join(d, "sub", "f"), "w") as f:
        f.write("x")
    for path, want in [
        (d, {"src", "src/sub", "src/sub/f"}),
        (d + "/.", {".", "./sub", "./sub/f"}),
        (os.path.join(d, "sub", "f"), {"f"}),
    ]:
        buf = io.BytesIO()
        cpchild.write_tar(path, cpchild.stat_path(path), buf)
        assert set(_names(buf.getvalue())) == want, path
