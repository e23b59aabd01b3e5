"""Detect and undo the compression of a layer blob.

Registries serve layers gzip'd (``application/vnd.*.tar+gzip``), zstd'd
(``+zstd``) or plain, and ``docker load`` may hand us any of them. As dockerd
(pkg/archive ``DecompressStream``), the format is chosen by the magic bytes,
never by a media type, so a mislabelled blob still works.

Everything here is a plain blocking reader: the layer code runs it in a
worker thread.
"""

from __future__ import annotations

import bz2
import enum
import io
import lzma
import zlib
from typing import IO, Protocol

import zstandard

__all__ = ["Compression", "ReadStream", "detect", "decompressed"]

CHUNK = 1 << 20


class ReadStream(Protocol):
    """The least a source must offer: ``read(n)``."""

    def read(self, n: int = -1, /) -> bytes: ...


class Compression(enum.Enum):
    """A compression format known by its magic number."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


_MAGIC: list[tuple[bytes, Compression]] = [
    (b"\x1f\x8b\x08", Compression.GZIP),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
]


def detect(head: bytes) -> Compression:
    """Name the format whose magic ``head`` starts with (NONE otherwise)."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return Compression.NONE


class _Peeked(io.RawIOBase):
    """A stream with some bytes already read from its head put back in front."""

    def __init__(self, head: bytes, rest: ReadStream) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        if self._head:
            if n < 0:
                data, self._head = self._head, b""
                return data + self._rest.read()
            data, self._head = self._head[:n], self._head[n:]
            return data
        return self._rest.read(n)

    def readinto(self, buf: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class _Decompressing(io.RawIOBase):
    """Streams the decompressed bytes of a gzip / bzip2 / xz source.

    Concatenated members (``cat a.gz b.gz``) are decoded one after the other,
    as Go's gzip reader does in multistream mode.
    """

    def __init__(self, source: ReadStream, kind: Compression) -> None:
        self._src = source
        self._kind = kind
        self._dec = self._new()
        self._buf = b""
        self._pending = b""
        self._eof = False

    def _new(self) -> zlib._Decompress | bz2.BZ2Decompressor | lzma.LZMADecompressor:
        if self._kind is Compression.GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._kind is Compression.BZIP2:
            return bz2.BZ2Decompressor()
        return lzma.LZMADecompressor()

    def readable(self) -> bool:
        return True

    def _fill(self) -> None:
        while not self._buf and not self._eof:
            data = self._pending or self._src.read(CHUNK)
            self._pending = b""
            if not data:
                if not self._dec.eof:
                    raise EOFError("unexpected EOF in compressed layer")
                self._eof = True
                return
            if self._dec.eof:
                self._dec = self._new()  # the next member of a multistream file
            self._buf = self._dec.decompress(data)
            self._pending = self._dec.unused_data if self._dec.eof else b""

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            chunks: list[bytes] = []
            while True:
                chunk = self.read(CHUNK)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)
        self._fill()
        data, self._buf = self._buf[:n], self._buf[n:]
        return data

    def readinto(self, buf: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)


def decompressed(source: ReadStream) -> tuple[Compression, ReadStream]:
    """Return the detected format and a reader of the uncompressed bytes."""
    head = b""
    while len(head) < 6:
        more = source.read(6 - len(head))
        if not more:
            break
        head += more
    kind = detect(head)
    peeked = _Peeked(head, source)
    if kind is Compression.NONE:
        return kind, peeked
    if kind is Compression.ZSTD:
        stream: IO[bytes] = peeked  # type: ignore[assignment]
        reader: ReadStream = zstandard.ZstdDecompressor().stream_reader(
            stream, read_across_frames=True, closefd=False
        )
        return kind, reader
    return kind, _Decompressing(peeked, kind)
