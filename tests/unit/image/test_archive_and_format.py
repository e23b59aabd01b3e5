from __future__ import annotations

import io
import json
import os
import tarfile

import pytest

from berthd import errdefs
from berthd.image import archive_reader
from berthd.image.archive_reader import ArchiveReader, decompress_stream, detect_compression
from berthd.image.gojson import marshal
from berthd.image.jsonstream import error_line, human_size, progress_bar, stream_line
from berthd.lib.atomicfile import write_atomic

from .archives import TarBuilder, compress


def test_resolution_inside_archive(tmp_path: str) -> None:
    b = TarBuilder().file("dir/real", b"data").symlink("a/link", "../dir/real")
    b.symlink("abs", "/dir/real").symlink("up", "../../../../dir/real")
    info = tarfile.TarInfo("hard")
    info.type = tarfile.LNKTYPE
    info.linkname = "dir/real"
    b.tar.addfile(info)
    with ArchiveReader(io.BytesIO(b.build()), str(tmp_path)) as ar:
        for name in ("dir/real", "a/link", "abs", "up", "./dir/real", "hard", "/dir/real"):
            assert ar.open(name).read() == b"data", name
        assert ar.size("hard") == 4
        assert ar.exists("a/link") and not ar.exists("../x") and not ar.exists("dir")
        with pytest.raises(errdefs.InvalidParameter, match="scope"):
            ar.resolve("dir/../../etc")
        with pytest.raises(errdefs.InvalidParameter, match="too large"):
            ar.read_small("dir/real", limit=3)
    assert os.listdir(tmp_path) == []  # the spool is anonymous


def test_compressed_archives_and_member_limit(
    tmp_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = TarBuilder().file("x", b"1").file("y", b"2").build()
    for kind in ("gzip", "zstd"):
        with ArchiveReader(io.BytesIO(compress(data, kind))) as ar:
            assert ar.read_small("y") == b"2"
    monkeypatch.setattr(archive_reader, "MAX_MEMBERS", 1)
    with pytest.raises(errdefs.InvalidParameter, match="too many entries"):
        ArchiveReader(io.BytesIO(data))


def test_detect_and_decompress() -> None:
    assert detect_compression(b"\x1f\x8b\x08rest") == "gzip"
    assert detect_compression(b"\x28\xb5\x2f\xfd") == "zstd"
    assert detect_compression(b"BZh9") == "bzip2"
    assert detect_compression(b"\xfd7zXZ\x00") == "xz"
    assert detect_compression(b"plain") == ""
    for kind in ("gzip", "zstd", ""):
        assert decompress_stream(io.BytesIO(compress(b"hello" * 1000, kind))).read() == (
            b"hello" * 1000
        )


def test_atomic_write_keeps_old_on_failure(tmp_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.path.join(tmp_path, "f")
    write_atomic(path, b"old")

    def boom(src: str, dst: str) -> None:
        raise OSError("crash")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_atomic(path, b"new")
    with open(path, "rb") as f:
        assert f.read() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_json_stream_format() -> None:
    assert stream_line("Loaded image: a:b\n") == b'{"stream":"Loaded image: a:b\\n"}\n'
    assert error_line("boom") == b'{"errorDetail":{"message":"boom"},"error":"boom"}\n'
    assert marshal({"a": "<&>"}) == b'{"a":"\\u003c\\u0026\\u003e"}'
    assert json.loads(marshal({"a": "é"})) == {"a": "é"}
    assert human_size(512) == "512B"
    assert human_size(1536) == "1.536kB"
    assert human_size(1_200_000) == "1.2MB"
    assert human_size(999_999) == "1000kB"
    assert progress_bar(0, 0) == ""
    assert progress_bar(512, 1024) == "[" + "=" * 25 + ">" + " " * 25 + "]     512B/1.024kB"
    assert progress_bar(2048, 1024).endswith("] " + " 2.048kB")


def test_archive_size_bound() -> None:
    data = TarBuilder().file("x", b"1" * 10_000).build()
    with pytest.raises(errdefs.InvalidParameter, match="larger than"):
        ArchiveReader(io.BytesIO(compress(data, "gzip")), max_size=5_000)
