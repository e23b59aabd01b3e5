"""Record a layer tar's framing so its exact bytes can be rebuilt later.

``docker save`` and ``docker push`` must produce the very bytes whose sha256 is
the layer's diff ID, long after the tar was unpacked. dockerd keeps a
``tar-split.json.gz`` beside each layer: every header, padding and trailer
byte verbatim, and for each regular file only its path and size, because the
content is already on disk in the layer's diff directory.

We keep the same idea in a compact binary form (gzip'd)::

    b"BERTHD-TARSPLIT 1\\n"
    then records:  b"R" <u32 length> <raw bytes>          (headers, padding, trailer)
                   b"F" <u16 length> <path> <u64 size>    (payload read from disk)
                   b"G" <u32 length> <path> <u64 size>    (the same, for a path of 64 KiB
                                                            or more: a deep tree)

Rebuilding opens each file beneath the diff directory without following
symlinks, so a layer whose content changed (or a hostile tree) cannot make us
read outside it.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Iterator

from berthd import errdefs

from .safeopen import open_beneath

__all__ = ["MAGIC", "TarSplitWriter", "reassemble"]

MAGIC = b"BERTHD-TARSPLIT 1\n"
_FLUSH_AT = 1 << 20
CHUNK = 1 << 20


class TarSplitWriter:
    """Accumulates raw segments and file references into a gzip file."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._out = gzip.GzipFile(fileobj=self._file, mode="wb", compresslevel=6, mtime=0)
        self._out.write(MAGIC)
        self._raw = bytearray()

    def raw(self, data: bytes | bytearray | memoryview) -> None:
        self._raw += data
        if len(self._raw) >= _FLUSH_AT:
            self._flush()

    def file(self, path: bytes, size: int) -> None:
        self._flush()
        if len(path) < 1 << 16:
            head = b"F" + struct.pack(">H", len(path))
        else:
            head = b"G" + struct.pack(">I", len(path))
        self._out.write(head + path + struct.pack(">Q", size))

    def _flush(self) -> None:
        if self._raw:
            self._out.write(b"R" + struct.pack(">I", len(self._raw)))
            self._out.write(self._raw)
            self._raw = bytearray()

    def close(self) -> None:
        """Write what is pending and fsync the file."""
        self._flush()
        self._out.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def abort(self) -> None:
        self._out.close()
        self._file.close()


def _read_exact(src: gzip.GzipFile, n: int) -> bytes:
    data = src.read(n)
    if len(data) != n:
        raise errdefs.DataLoss("tar-split metadata is truncated")
    return data


def reassemble(split_path: str, diff_dir: str) -> Iterator[bytes]:
    """Yield the original tar stream, chunk by chunk."""
    try:
        src = gzip.GzipFile(split_path, "rb")
    except FileNotFoundError:
        raise errdefs.NotFound(f"no tar-split metadata for layer at {split_path}") from None
    with src:
        try:
            if src.read(len(MAGIC)) != MAGIC:
                raise errdefs.DataLoss(f"{split_path}: not a berthd tar-split file")
            while True:
                kind = src.read(1)
                if not kind:
                    return
                if kind == b"R":
                    (length,) = struct.unpack(">I", _read_exact(src, 4))
                    yield _read_exact(src, length)
                elif kind in (b"F", b"G"):
                    if kind == b"F":
                        (plen,) = struct.unpack(">H", _read_exact(src, 2))
                    else:
                        (plen,) = struct.unpack(">I", _read_exact(src, 4))
                    path = _read_exact(src, plen)
                    (size,) = struct.unpack(">Q", _read_exact(src, 8))
                    yield from _file_chunks(diff_dir, path, size)
                else:
                    raise errdefs.DataLoss(f"{split_path}: corrupt tar-split record")
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            if isinstance(exc, FileNotFoundError | IsADirectoryError | NotADirectoryError):
                raise
            raise errdefs.DataLoss(f"{split_path}: {exc}") from exc


def _file_chunks(diff_dir: str, path: bytes, size: int) -> Iterator[bytes]:
    try:
        fd = open_beneath(diff_dir, path)
    except OSError as exc:
        raise errdefs.DataLoss(
            f"layer content changed: cannot open {os.fsdecode(path)!r}: {exc.strerror}"
        ) from exc
    with os.fdopen(fd, "rb") as f:
        left = size
        while left:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                raise errdefs.DataLoss(f"layer content changed: {os.fsdecode(path)!r} is shorter")
            left -= len(chunk)
            yield chunk
