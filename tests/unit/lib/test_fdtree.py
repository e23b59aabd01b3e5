"""Trees deeper than Python's recursion limit and paths longer than PATH_MAX:
walk, size, tar, diff, whiteouts, layer extraction and removal (issue 13)."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from berthd.lib import fdtree
from berthd.lib.archive import (
    Change,
    ChangeKind,
    apply_tar,
    changes_dirs,
    changes_dirs_size,
    convert_to_overlay,
    export_changes,
    merge_with_deletions,
    overlay_changes,
    tar_tree,
    tree_size,
)

DEPTH = 1100  # "ddd/" x 1100 = 4400 bytes: past PATH_MAX and the recursion limit
NAME = "ddd"


@pytest.fixture(autouse=True)
def small_fd_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fdtree, "FD_CAP", 8)  # exercise the ".." reopening


@pytest.fixture(autouse=True)
def clean(tmp_path: Path) -> Iterator[None]:
    yield
    for child in tmp_path.iterdir():  # pytest's own clean-up would recurse too deep
        fdtree.rmtree(str(child))


def deep(root: Path, depth: int = DEPTH, leaf: bytes = b"leaf") -> None:
    """root/ddd/ddd/.../f, built by fds."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir(NAME, dir_fd=fd)
        nxt = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = nxt
    f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.write(f, leaf)
    os.close(f)
    os.close(fd)


def read_leaf(root: Path, depth: int = DEPTH) -> bytes:
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    fd = fdtree.open_dir_beneath(top, [NAME] * depth)
    os.close(top)
    f = os.open("f", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    with os.fdopen(f, "rb") as fh:
        return fh.read()


def leaf_path(depth: int = DEPTH) -> str:
    return "/".join([NAME] * depth) + "/f"


def test_walk_size_and_rmtree(tmp_path: Path) -> None:
    deep(tmp_path / "t" if (tmp_path / "t").mkdir() is None else tmp_path)
    paths = [e.path for e in fdtree.TreeWalk(str(tmp_path / "t"))]
    assert len(paths) == DEPTH + 1 and paths[-1] == leaf_path()
    assert tree_size(str(tmp_path / "t")) == 4
    assert fdtree.lstat_beneath(str(tmp_path / "t"), leaf_path()).st_size == 4
    fdtree.rmtree(str(tmp_path / "t"))
    assert not (tmp_path / "t").exists()
    fdtree.rmtree(str(tmp_path / "t"))  # missing is fine


def _chunks(it: Iterator[bytes]) -> bytes:
    return b"".join(it)


def test_tar_and_extract_round_trip(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    deep(tmp_path / "src")
    os.symlink("../../../../..", tmp_path / "src" / "up")
    data = _chunks(tar_tree(str(tmp_path / "src")))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
    assert leaf_path() in names and "up" in names
    (tmp_path / "dst").mkdir()
    apply_tar(io.BytesIO(data), str(tmp_path / "dst"))
    assert read_leaf(tmp_path / "dst") == b"leaf"
    assert os.readlink(tmp_path / "dst" / "up") == "../../../../.."
    again = _chunks(tar_tree(str(tmp_path / "dst")))
    assert again == data  # same entries, same metadata (times of deep dirs too)


def test_overlay_changes_and_whiteouts(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    deep(lower, 10)
    deep(upper)
    got = overlay_changes([str(lower)], str(upper))
    assert got[-1] == Change("/" + leaf_path(), ChangeKind.ADD)
    assert len(got) > DEPTH - 10  # dirs equal to the lower's may be skipped
    # a whiteout deep down, extracted from a layer tar
    info = tarfile.TarInfo("/".join([NAME] * DEPTH) + "/.wh.gone")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        tf.addfile(info, io.BytesIO(b""))
    layer = tmp_path / "layer"
    layer.mkdir()
    apply_tar(io.BytesIO(buf.getvalue()), str(layer))
    assert convert_to_overlay(str(layer)) == 1
    st = fdtree.lstat_beneath(str(layer), "/".join([NAME] * DEPTH) + "/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_vfs_compare_export_and_merge(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "x").write_text("x")
    deep(new)
    got = changes_dirs(str(new), str(old))
    assert (
        Change("/x", ChangeKind.DELETE) in got and Change("/" + leaf_path(), ChangeKind.ADD) in got
    )
    assert changes_dirs_size(str(new), str(old)) == 4
    data = _chunks(export_changes(str(new), got))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = tf.getnames()
    assert leaf_path() in names and ".wh.x" in names
    staging = tmp_path / "staging"
    staging.mkdir()
    apply_tar(io.BytesIO(data), str(staging))
    merge_with_deletions(str(staging), str(old))
    assert not (old / "x").exists() and read_leaf(old) == b"leaf"


def test_copy_tree_keeps_everything(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    deep(src)
    (src / "a").write_text("a")
    os.link(src / "a", src / "hard")
    os.symlink("../../..", src / "up")
    os.mkfifo(src / "fifo")
    os.chmod(src / "a", 0o4751)
    os.setxattr(src / "a", "user.k", b"v")
    os.utime(src / "a", ns=(1, 2_000_000_000))
    fdtree.copy_tree(str(src), str(tmp_path / "dst"))
    dst = tmp_path / "dst"
    assert read_leaf(dst) == b"leaf"
    assert os.stat(dst / "a").st_ino == os.stat(dst / "hard").st_ino
    assert os.readlink(dst / "up") == "../../.."
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode)
    st = os.stat(dst / "a")
    assert stat.S_IMODE(st.st_mode) == 0o4751 and st.st_mtime_ns == 2_000_000_000
    assert os.getxattr(dst / "a", "user.k") == b"v"
    assert _chunks(tar_tree(str(dst))) == _chunks(tar_tree(str(src)))


@pytest.mark.parametrize("link", ["{outside}", "../../outside", "inside"])
def test_long_names_never_write_through_a_link(tmp_path: Path, link: str) -> None:
    """A long entry (written around GNU tar) under a symlink of the same archive:
    refused, whether the link leads out or not; nothing lands outside."""
    from berthd import errdefs

    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "sub" / "dest"
    dest.mkdir(parents=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        d = tarfile.TarInfo("inside")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        ln = tarfile.TarInfo("a")
        ln.type, ln.linkname = tarfile.SYMTYPE, link.replace("{outside}", str(outside))
        tf.addfile(ln)
        f = tarfile.TarInfo("a/" + "/".join([NAME] * 1100) + "/pwned")
        f.size = 1
        tf.addfile(f, io.BytesIO(b"x"))
    with pytest.raises(errdefs.InvalidParameter):
        apply_tar(io.BytesIO(buf.getvalue()), str(dest))
    assert list(outside.iterdir()) == []
    assert not (dest / "inside").exists() or list((dest / "inside").iterdir()) == []


def test_archive_in_root_takes_a_deep_tree(tmp_path: Path) -> None:
    from berthd.lib.archive import archive_in_root

    root = tmp_path / "root"
    root.mkdir()
    deep(root)
    data = _chunks(archive_in_root(str(root), "/" + NAME))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        leaf = tf.extractfile(leaf_path())
        assert leaf is not None and leaf.read() == b"leaf"


def test_extract_in_root_takes_a_deep_tree(tmp_path: Path) -> None:
    from berthd.lib.archive import extract_in_root

    src, root = tmp_path / "src", tmp_path / "root"
    src.mkdir()
    root.mkdir()
    deep(src)
    extract_in_root(io.BytesIO(_chunks(tar_tree(str(src)))), str(root), "/")
    assert read_leaf(root) == b"leaf"
