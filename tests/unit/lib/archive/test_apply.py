"""apply_tar: diff IDs, compression, fidelity, and hostile archives."""

from __future__ import annotations

import bz2
import copy
import gzip
import hashlib
import io
import lzma
import os
import stat
import tarfile
from pathlib import Path

import pytest
import zstandard

from berthd import errdefs
from berthd.lib.archive import Compression, apply_tar, detect

from .tarbuild import E, build, d, f, hard, sym

LAYER = build([d("etc"), f("etc/hello", b"hello\n"), sym("etc/link", "hello")])


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("compress", "kind"),
    [
        (lambda b: b, Compression.NONE),
        (gzip.compress, Compression.GZIP),
        (lambda b: zstandard.ZstdCompressor().compress(b), Compression.ZSTD),
        (bz2.compress, Compression.BZIP2),
        (lzma.compress, Compression.XZ),
    ],
)
def test_diff_id_is_sha256_of_uncompressed_tar(tmp_path: Path, compress, kind) -> None:  # type: ignore[no-untyped-def]
    blob = compress(LAYER)
    assert detect(blob[:8]) is kind
    res = apply_tar(io.BytesIO(blob), str(tmp_path))
    assert res.diff_id == sha(LAYER)
    assert res.compression is kind
    assert res.size == len(b"hello\n")
    assert (tmp_path / "etc/hello").read_bytes() == b"hello\n"
    assert os.readlink(tmp_path / "etc/link") == "hello"


def test_multistream_gzip(tmp_path: Path) -> None:
    blob = gzip.compress(LAYER[:4096]) + gzip.compress(LAYER[4096:])
    assert apply_tar(io.BytesIO(blob), str(tmp_path)).diff_id == sha(LAYER)


def test_corrupt_gzip_is_invalid_parameter(tmp_path: Path) -> None:
    blob = gzip.compress(LAYER)
    with pytest.raises(errdefs.InvalidParameter):
        apply_tar(io.BytesIO(blob[: len(blob) // 2]), str(tmp_path))


def test_bad_checksum_rejected(tmp_path: Path) -> None:
    bad = bytearray(LAYER)
    bad[0] ^= 0x01
    with pytest.raises(errdefs.InvalidParameter):
        apply_tar(io.BytesIO(bytes(bad)), str(tmp_path))


def test_ownership_modes_times_xattrs_devices_kept(tmp_path: Path) -> None:
    tar = build(
        [
            d("bin", 0o755),
            f("bin/su", b"#!", mode=0o4755, uid=0, gid=0),
            f("bin/sg", b"#!", mode=0o2711, uid=12, gid=34, mtime=1_234_567_890),
            E("tmp", tarfile.DIRTYPE, mode=0o1777),
            f("cap", b"c", pax={"SCHILY.xattr.user.tag": "v1"}),
            E("dev/null", tarfile.CHRTYPE, mode=0o666, major=1, minor=3),
            E("dev/loop0", tarfile.BLKTYPE, mode=0o660, major=7, minor=0),
            E("fifo", tarfile.FIFOTYPE, mode=0o600),
        ]
    )
    apply_tar(io.BytesIO(tar), str(tmp_path))
    su = os.lstat(tmp_path / "bin/su")
    assert stat.S_IMODE(su.st_mode) == 0o4755
    sg = os.lstat(tmp_path / "bin/sg")
    assert (stat.S_IMODE(sg.st_mode), sg.st_uid, sg.st_gid) == (0o2711, 12, 34)
    assert int(sg.st_mtime) == 1_234_567_890
    assert stat.S_IMODE(os.lstat(tmp_path / "tmp").st_mode) == 0o1777
    assert os.getxattr(tmp_path / "cap", "user.tag") == b"v1"
    null = os.lstat(tmp_path / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1
    assert stat.S_ISBLK(os.lstat(tmp_path / "dev/loop0").st_mode)
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)


# ---- hostile archives: nothing may land outside dest ------------------------


@pytest.fixture
def arena(tmp_path: Path) -> tuple[Path, Path]:
    """(dest, outside): dest is where we extract; outside must stay untouched."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("original")
    dest = tmp_path / "sub" / "dest"
    dest.mkdir(parents=True)
    return dest, outside


def _outside_untouched(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim"]
    assert (outside / "victim").read_text() == "original"


HOSTILE = {
    "dotdot": [f("../../outside/pwned")],
    "dotdot_inner": [d("a"), f("a/../../../outside/pwned")],
    "symlink_abs_then_file": [sym("a", "{outside}"), f("a/pwned")],
    "symlink_climb_then_file": [sym("a", "../../outside"), f("a/pwned")],
    "symlink_chain": [sym("b", "{outside}"), sym("a", "b"), f("a/pwned")],
    "symlink_then_overwrite": [sym("victim", "{outside}/victim"), f("victim", b"pwned")],
    "hardlink_dotdot": [hard("h", "../../outside/victim")],
    "hardlink_through_symlink": [sym("a", "{outside}"), hard("h", "a/victim")],
    "symlink_dir_then_dir": [sym("a", "{outside}"), d("a/sub")],
    "pax_path": [f("ok", pax={"path": "../../outside/pwned"})],
    "pax_sparse_name": [f("ok", pax={"GNU.sparse.name": "../../outside/pwned"})],
    "pax_linkpath": [E("h", tarfile.LNKTYPE, link="x", pax={"linkpath": "../../outside/victim"})],
}


def _hostile(case: str, outside: Path) -> list[E]:
    entries = copy.deepcopy(HOSTILE[case])
    for e in entries:
        e.link = e.link.replace("{outside}", str(outside))
    return entries


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_never_writes_outside(arena: tuple[Path, Path], case: str) -> None:
    dest, outside = arena
    entries = _hostile(case, outside)
    if case == "symlink_then_overwrite":  # legal: the file replaces the link
        apply_tar(io.BytesIO(build(entries)), str(dest))
    else:
        with pytest.raises(errdefs.InvalidParameter, match=r"outside of|invalid"):
            apply_tar(io.BytesIO(build(entries)), str(dest))
    _outside_untouched(outside)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_gnu_tar_alone_also_refuses(
    arena: tuple[Path, Path], case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with our checks switched off, GNU tar still holds."""
    from berthd.lib.archive import guard

    monkeypatch.setattr(guard.BreakoutGuard, "check", lambda self, hdr: b"x")
    dest, outside = arena
    entries = _hostile(case, outside)
    try:
        apply_tar(io.BytesIO(build(entries)), str(dest))
    except errdefs.InvalidParameter:
        pass
    _outside_untouched(outside)


def test_absolute_names_land_inside(arena: tuple[Path, Path]) -> None:
    dest, outside = arena
    apply_tar(io.BytesIO(build([f(str(outside / "pwned"), b"in")])), str(dest))
    _outside_untouched(outside)
    assert (dest / str(outside).lstrip("/") / "pwned").read_bytes() == b"in"


def test_absolute_hardlink_target_is_layer_relative(arena: tuple[Path, Path]) -> None:
    dest, outside = arena
    apply_tar(
        io.BytesIO(build([d("etc"), f("etc/passwd", b"p"), hard("h", "/etc/passwd")])), str(dest)
    )
    assert os.stat(dest / "h").st_ino == os.stat(dest / "etc/passwd").st_ino
    _outside_untouched(outside)


def test_relative_symlink_inside_is_fine(tmp_path: Path) -> None:
    tar = build([d("usr"), d("usr/lib"), sym("lib", "usr/lib"), f("lib/x", b"1")])
    apply_tar(io.BytesIO(tar), str(tmp_path))
    assert (tmp_path / "usr/lib/x").read_bytes() == b"1"


def test_truncated_archive_rejected(tmp_path: Path) -> None:
    with pytest.raises(errdefs.InvalidParameter):
        apply_tar(io.BytesIO(LAYER[:700]), str(tmp_path))


def test_unknown_entry_types_rejected(tmp_path: Path) -> None:
    tar = build([E("vol", b"V")])
    with pytest.raises(errdefs.InvalidParameter, match="unsupported tar entry type"):
        apply_tar(io.BytesIO(tar), str(tmp_path))


def test_sparse_file_name_is_checked_and_kept(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as fh:
        fh.seek(1 << 20)
        fh.write(b"end")
    tar_path = tmp_path / "s.tar"
    import subprocess

    subprocess.run(
        ["tar", "--format=pax", "-S", "-cf", str(tar_path), "-C", str(src), "sparse"], check=True
    )
    dest = tmp_path / "dest"
    dest.mkdir()
    from berthd.lib.archive import reassemble

    apply_tar(io.BytesIO(tar_path.read_bytes()), str(dest), str(tmp_path / "split"))
    assert (dest / "sparse").read_bytes()[-3:] == b"end"
    assert b"".join(reassemble(str(tmp_path / "split"), str(dest))) == tar_path.read_bytes()
