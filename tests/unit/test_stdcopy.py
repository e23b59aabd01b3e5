"""stdcopy framing: header layout, chunking, incremental demux."""

from __future__ import annotations

import struct

import pytest

from berthd.lib import stdcopy


def test_frame_header_layout() -> None:
    assert stdcopy.frame(stdcopy.STDOUT, b"hi") == b"\x01\x00\x00\x00\x00\x00\x00\x02hi"
    assert stdcopy.frame(stdcopy.STDERR, b"") == b"\x02" + b"\x00" * 7
    assert struct.unpack(">BxxxL", stdcopy.frame(3, b"x" * 300)[:8]) == (3, 300)


def test_frame_rejects_unknown_stream() -> None:
    with pytest.raises(ValueError):
        stdcopy.frame(4, b"x")


def test_frames_split_big_data_in_32k_chunks() -> None:
    data = bytes(range(256)) * 300  # 76800 bytes
    out = list(stdcopy.frames(stdcopy.STDOUT, data))
    assert [len(f) - 8 for f in out] == [32768, 32768, 11264]
    assert b"".join(p for _, p in stdcopy.demux(b"".join(out))) == data
    assert list(stdcopy.frames(stdcopy.STDOUT, b"")) == []
    assert len(list(stdcopy.frames(1, b"abcdef", max_chunk=4))) == 2


def test_demuxer_incremental_byte_by_byte() -> None:
    stream = (
        stdcopy.frame(1, b"out\n") + stdcopy.frame(2, b"err\n") + stdcopy.frame(1, b"") + b"\x01"
    )
    d = stdcopy.Demuxer()
    got: list[tuple[int, bytes]] = []
    for i in range(len(stream)):
        got += d.feed(stream[i : i + 1])
    assert got == [(1, b"out\n"), (2, b"err\n"), (1, b"")]
    assert d.pending == 1
    with pytest.raises(stdcopy.FrameError):
        d.close()


def test_demuxer_rejects_bad_header() -> None:
    with pytest.raises(stdcopy.FrameError, match="Unrecognized input header: 9"):
        stdcopy.Demuxer().feed(b"\x09\x00\x00\x00\x00\x00\x00\x00")


def test_frame_stream_ids_and_sizes_over_64k() -> None:
    for sid in (stdcopy.STDIN, stdcopy.STDOUT, stdcopy.STDERR, stdcopy.SYSTEMERR):
        assert stdcopy.frame(sid, b"")[:1] == bytes((sid,))
    # one frame holds any payload (the length is 32 bits, not 16): no chunking in frame()
    big = b"z" * (70 * 1024 + 3)
    f = stdcopy.frame(stdcopy.STDERR, big)
    assert f[:8] == b"\x02\x00\x00\x00" + (70 * 1024 + 3).to_bytes(4, "big")
    assert f[:8] == b"\x02\x00\x00\x00\x00\x01\x18\x03"
    assert f[8:] == big
    assert stdcopy.demux(f) == [(stdcopy.STDERR, big)]
    # the bulk header is the same layout
    assert stdcopy.HEADER.pack(stdcopy.STDOUT, 5) + b"hello" == stdcopy.frame(1, b"hello")
