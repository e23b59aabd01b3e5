"""Complete a context tar whose last entry lacks its padding.

The docker CLI, when it adds a Dockerfile from outside the context (``-f ../x``),
rewrites the tar and ends it right after the last file's data: no padding to the
512-byte block and no end-of-archive blocks. Go's tar reader takes an EOF there
as the end of the archive, so dockerd accepts it; the layer extractor (rightly)
calls it truncated. This reader follows the entry boundaries as the bytes pass
and, only when the stream ends exactly where an entry's data ends, adds the
missing padding and end blocks. A stream cut inside a header, file data or
padding is left as it is, so it is still refused as truncated (as by Go).
"""

from __future__ import annotations

import io

from berthd import errdefs
from berthd.lib.archive.compression import ReadStream
from berthd.lib.archive.tarheader import BLOCK, is_zero_block, padding, parse_header

__all__ = ["CompleteTail"]

_EXTENSIONS = {b"L", b"K", b"x", b"g"}
_NO_DATA = {b"1", b"2", b"3", b"4", b"5", b"6"}


class CompleteTail(io.RawIOBase):
    def __init__(self, source: ReadStream) -> None:
        self._src = source
        self._pos = 0  # bytes passed so far
        self._hdr = bytearray()
        self._data_end = -1  # where the current entry's data ends
        self._pad_end = 0  # where its padding ends (the next header starts)
        self._tail = b""
        self._eof = False
        self._lost = False  # something not followed: never pad

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1, /) -> bytes:
        if self._eof:
            out, self._tail = (self._tail, b"") if n < 0 else (self._tail[:n], self._tail[n:])
            return out
        data = self._src.read(n)
        if not data:
            self._eof = True
            # exactly at the end of the data, as Go's tryReadFull takes a clean EOF
            if not self._lost and self._pos == self._data_end < self._pad_end:
                self._tail = b"\0" * (self._pad_end - self._pos) + b"\0" * (2 * BLOCK)
            return self.read(n)
        if not self._lost:
            try:
                self._follow(data)
            except (errdefs.BerthdError, ValueError):
                self._lost = True
        return data

    def readinto(self, buf: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def _follow(self, data: bytes) -> None:
        start = self._pos
        self._pos += len(data)
        off = 0
        while off < len(data):
            at = start + off
            if at < self._pad_end:  # inside an entry's data or padding
                off += min(self._pad_end - at, len(data) - off)
                continue
            take = min(BLOCK - len(self._hdr), len(data) - off)
            self._hdr += data[off : off + take]
            off += take
            if len(self._hdr) < BLOCK:
                return
            block = bytes(self._hdr)
            self._hdr.clear()
            header_end = start + off
            if is_zero_block(block):
                self._data_end, self._pad_end = -1, header_end
                continue
            hdr = parse_header(block)
            size = 0 if hdr.typeflag in _NO_DATA else hdr.size
            self._data_end = header_end + size
            self._pad_end = self._data_end + padding(size)
            if hdr.typeflag in _EXTENSIONS:
                self._data_end = -1  # an EOF after an extension is truncation
