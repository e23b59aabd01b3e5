"""tar-split: a registered tar's exact bytes come back from disk + the record."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from berthd import errdefs
from berthd.layer import LayerStore, new_driver
from berthd.lib.archive import apply_tar, reassemble

from .tarbuild import E, build, d, f, hard, sym

LONG = "deep/" + "n" * 120 + "/" + "f" * 130


def _entries() -> list[E]:
    return [
        d("etc"),
        f("etc/passwd", b"root:x:0:0\n" * 50, mode=0o644),
        f("etc/empty", b""),
        f("etc/big", os.urandom(70_000)),
        hard("etc/passwd-hard", "etc/passwd"),
        sym("etc/link", "passwd"),
        sym("etc/abs", "/etc/passwd"),
        d("deep"),
        d("deep/" + "n" * 120),
        f(LONG, b"long name"),
        sym("deep/longlink", "x" * 150),
        f("etc/.wh.removed", b""),
        d("opaque"),
        f("opaque/.wh..wh..opq", b""),
        f("unicode-\u00e9\u00e8", b"u"),
        f("bin/su", b"su", mode=0o4755, uid=0, gid=0),
        f("x-attr", b"x", pax={"SCHILY.xattr.user.k": "v"}),
        E("dev/null", tarfile.CHRTYPE, mode=0o666, major=1, minor=3),
    ]


FORMATS = {
    "pax": tarfile.PAX_FORMAT,
    "gnu": tarfile.GNU_FORMAT,
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_regenerated_bytes_equal_python_tars(tmp_path: Path, fmt: str) -> None:
    tar = build(_entries(), FORMATS[fmt])
    dest = tmp_path / "dest"
    dest.mkdir()
    split = str(tmp_path / "split.gz")
    res = apply_tar(io.BytesIO(gzip.compress(tar)), str(dest), split)
    assert res.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert b"".join(reassemble(split, str(dest))) == tar


@pytest.mark.parametrize("fmt", ["gnu", "pax", "ustar", "oldgnu", "v7"])
def test_regenerated_bytes_equal_gnu_tar_archives(tmp_path: Path, fmt: str) -> None:
    src = tmp_path / "src"
    (src / "d/sub").mkdir(parents=True)
    (src / "d/file").write_bytes(b"data" * 1000)
    os.link(src / "d/file", src / "d/hard")
    os.symlink("file", src / "d/sym")
    (src / "d/sub/.wh.x").write_bytes(b"")
    if fmt in ("gnu", "pax", "oldgnu"):
        long_dir = src / ("L" * 110)
        long_dir.mkdir()
        (long_dir / ("m" * 120)).write_bytes(b"m")
    tar_path = tmp_path / "in.tar"
    subprocess.run(
        ["tar", f"--format={fmt}", "-cf", str(tar_path), "-C", str(src), "."], check=True
    )
    tar = tar_path.read_bytes()
    dest = tmp_path / "dest"
    dest.mkdir()
    split = str(tmp_path / "split.gz")
    apply_tar(io.BytesIO(tar), str(dest), split)
    assert b"".join(reassemble(split, str(dest))) == tar


@pytest.mark.parametrize("driver_name", ["overlay2", "vfs"])
def test_store_tar_stream_exact_through_driver(data_root: Path, driver_name: str) -> None:
    store = LayerStore(str(data_root), new_driver(str(data_root), driver_name))
    tar = build(_entries())
    base = store.register(
        io.BytesIO(build([d("etc"), f("etc/removed", b"r"), d("opaque"), f("opaque/old")]))
    )
    top = store.register(io.BytesIO(tar), base.chain_id)
    assert b"".join(store.tar_stream(top.chain_id)) == tar
    store.cleanup()


def test_content_changed_is_data_loss(tmp_path: Path) -> None:
    tar = build([f("a", b"hello")])
    dest = tmp_path / "dest"
    dest.mkdir()
    split = str(tmp_path / "split.gz")
    apply_tar(io.BytesIO(tar), str(dest), split)
    (dest / "a").write_bytes(b"he")
    with pytest.raises(errdefs.DataLoss):
        b"".join(reassemble(split, str(dest)))


def test_reassembly_never_follows_symlinks(tmp_path: Path) -> None:
    tar = build([d("etc"), f("etc/shadow", b"layer")])
    dest = tmp_path / "dest"
    dest.mkdir()
    split = str(tmp_path / "split.gz")
    apply_tar(io.BytesIO(tar), str(dest), split)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "shadow").write_bytes(b"host!")
    os.rename(dest / "etc", tmp_path / "moved")
    os.symlink(str(secret), dest / "etc")
    with pytest.raises(errdefs.DataLoss):
        b"".join(reassemble(split, str(dest)))


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


def test_duplicate_path_is_flagged_not_reproducible(tmp_path: Path) -> None:
    tar = build([f("a", b"first"), f("a", b"second")])
    dest = tmp_path / "dest"
    dest.mkdir()
    res = apply_tar(io.BytesIO(tar), str(dest), str(tmp_path / "split"))
    assert not res.reproducible
    assert (dest / "a").read_bytes() == b"second"
    ok = apply_tar(io.BytesIO(build([f("b")])), str(tmp_path), str(tmp_path / "split2"))
    assert ok.reproducible


def test_path_of_64k_and_more_round_trips(tmp_path: Path) -> None:
    """A file 280 levels of 255-byte names deep (~71 KiB of path): its by-reference
    record needs the long form, and the exact bytes still come back."""
    from berthd.lib import fdtree

    parts = ["n" * 255] * 280
    entries = [d("/".join(parts[: i + 1])) for i in range(len(parts))]
    entries.append(f("/".join(parts) + "/leaf", b"deep data"))
    tar = build(entries)
    dest = tmp_path / "diff"
    dest.mkdir()
    split = str(tmp_path / "split.gz")
    try:
        apply_tar(io.BytesIO(tar), str(dest), split)
        assert b"".join(reassemble(split, str(dest))) == tar
    finally:
        fdtree.rmtree(str(dest))
