"""docker diff semantics (moby pkg/archive/changes.go) on plain directories."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

from berthd.lib.archive import (
    OPAQUE_XATTR,
    Change,
    ChangeKind,
    changes_dirs,
    export_changes,
    overlay_changes,
    tar_tree,
)

M, A, D = ChangeKind.MODIFY, ChangeKind.ADD, ChangeKind.DELETE


def test_kind_numbers_are_dockerds() -> None:
    assert (int(M), int(A), int(D)) == (0, 1, 2)
    assert [k.letter() for k in (M, A, D)] == ["C", "A", "D"]


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root")
    (root / "etc/group").write_text("root")
    (root / "var/lib").mkdir(parents=True)
    (root / "var/lib/db").write_text("db")
    for p in root.rglob("*"):
        os.utime(p, (1_000_000_000, 1_000_000_000), follow_symlinks=False)


def test_changes_dirs(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _tree(old)
    _tree(new)
    (new / "etc/passwd").write_text("root\nuser")
    os.unlink(new / "etc/group")
    (new / "var/lib/db").unlink()
    (new / "var/lib").rmdir()
    (new / "var/lib").mkdir()  # recreated dir: same type -> not a change by itself
    (new / "tmp").mkdir()
    (new / "tmp/x").write_text("x")
    got = changes_dirs(str(new), str(old))
    assert sorted(got) == sorted(
        [
            Change("/etc", M),
            Change("/etc/passwd", M),
            Change("/etc/group", D),
            Change("/tmp", A),
            Change("/tmp/x", A),
            Change("/var", M),
            Change("/var/lib", M),
            Change("/var/lib/db", D),
        ]
    )
    # parents come before their children, as moby inserts them
    assert got.index(Change("/etc", M)) < got.index(Change("/etc/passwd", M))


def test_changes_dirs_mode_and_capability(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    _tree(old)
    _tree(new)
    os.chmod(new / "etc/passwd", 0o600)
    assert Change("/etc/passwd", M) in changes_dirs(str(new), str(old))


def test_changes_dirs_from_nothing(tmp_path: Path) -> None:
    _tree(tmp_path / "new")
    got = changes_dirs(str(tmp_path / "new"), None)
    assert all(c.kind is A for c in got) and Change("/var/lib/db", A) in got


def test_overlay_changes(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    _tree(lower)
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc/group", stat.S_IFCHR | 0o600, 0)  # whiteout
    (upper / "etc/new").write_text("n")
    (upper / "var").mkdir()
    os.setxattr(upper / "var", OPAQUE_XATTR, b"y")
    got = overlay_changes([str(lower)], str(upper))
    assert got == [
        Change("/etc", M),
        Change("/etc/group", D),
        Change("/etc/new", A),
        Change("/var", D),
    ]


def test_overlay_changes_unchanged_parent_dir_reported_once(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    _tree(lower)
    (upper / "var/lib").mkdir(parents=True)
    for p in ("var", "var/lib"):
        st = os.stat(lower / p)
        os.chmod(upper / p, stat.S_IMODE(st.st_mode))
        os.utime(upper / p, ns=(st.st_atime_ns, st.st_mtime_ns))
    (upper / "var/lib/new").write_text("n")
    got = overlay_changes([str(lower)], str(upper))
    assert got == [Change("/var/lib", M), Change("/var/lib/new", A)]


def test_export_changes_writes_whiteouts(tmp_path: Path) -> None:
    _tree(tmp_path)
    data = b"".join(
        export_changes(str(tmp_path), [Change("/etc/passwd", M), Change("/etc/group", D)])
    )
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = {m.name: m for m in tf.getmembers()}
        assert tf.extractfile(members["etc/passwd"]).read() == b"root"  # type: ignore[union-attr]
    assert members["etc/.wh.group"].size == 0


def test_tar_tree_converts_overlay_whiteouts_and_keeps_hardlinks(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    os.mknod(tmp_path / "d/gone", stat.S_IFCHR | 0o600, 0)
    os.setxattr(tmp_path / "d", OPAQUE_XATTR, b"y")
    (tmp_path / "f").write_text("x")
    os.link(tmp_path / "f", tmp_path / "g")
    os.chmod(tmp_path / "f", 0o4755)
    data = b"".join(tar_tree(str(tmp_path), overlay_whiteouts=True))
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        m = {x.name: x for x in tf.getmembers()}
    assert set(m) == {"d", "d/.wh..wh..opq", "d/.wh.gone", "f", "g"}
    assert m["g"].islnk() and m["g"].linkname == "f"
    assert m["f"].mode == 0o4755
    assert m["d/.wh.gone"].isreg()
