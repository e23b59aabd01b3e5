"""Unpack a layer tar with GNU tar while hashing and recording it.

One pass over the stream does everything a pull or ``docker load`` needs:

    blob ─► decompress (gzip/zstd, by magic) ─► our header parser ─┬─► sha256 (diff ID)
                                                                   ├─► tar-split record
                                                                   └─► GNU ``tar -x`` stdin

Our parser vets each header (:mod:`.guard`) *before* GNU tar receives it, so a
hostile entry aborts the extraction instead of being written. An entry whose
name is too long for GNU tar (near ``PATH_MAX``: a deep tree a container made)
never reaches it: it is kept aside and written by :mod:`.longnames` afterwards. GNU tar, not
``tarfile``, does the writing: it is ~1.9x faster and keeps ownership, modes,
setuid bits, xattrs, mtimes and device nodes, and refuses to write through
absolute symlinks on its own (see research/runtime-spikes.md §4).

Blocking by design; the layer store runs it in a worker thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import logging
import lzma
import os
import shutil
import subprocess
import tempfile
import zlib

import zstandard

from berthd import errdefs

from . import tarheader as th
from .compression import Compression, ReadStream, decompressed
from .guard import BreakoutGuard, clean_name
from .longnames import LONG_NAME, LongEntries
from .tarsplit import TarSplitWriter

__all__ = ["DIE_WITH_PARENT", "TAR_EXTRACT_ARGS", "ApplyResult", "apply_tar"]

log = logging.getLogger(__name__)
CHUNK = 1 << 20
_F_SETPIPE_SZ = 1031
# If the daemon dies (kill -9) mid-extraction, tar must die too: an orphan tar
# still writing would race the garbage collection of the next start.
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
TAR_EXTRACT_ARGS = [
    "--numeric-owner",
    "--xattrs",
    "--xattrs-include=*",
    "-p",
    "--same-owner",
    "--warning=no-unknown-keyword",
    "--warning=no-timestamp",
]


@dataclasses.dataclass(frozen=True)
class ApplyResult:
    """What one extraction learnt about the layer."""

    diff_id: str  # "sha256:<hex>" of the uncompressed tar
    size: int  # sum of regular file sizes, as dockerd's ApplyDiff reports
    tar_size: int  # bytes of uncompressed tar
    compression: Compression
    # False when a path was written twice: its first content is gone from disk,
    # so tar-split cannot rebuild the exact bytes (docker save will fail loudly).
    reproducible: bool = True


class _TarProcess:
    """GNU ``tar -x`` reading stdin, extracting into ``dest``."""

    def __init__(self, dest: str) -> None:
        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finish()/kill()
        self.proc = subprocess.Popen(
            [*DIE_WITH_PARENT, "tar", "-x", "-f", "-", "-C", dest, *TAR_EXTRACT_ARGS],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._err,
            env={"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        )
        self.closed = False
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # a bigger pipe lets tar and us overlap more
            fcntl.fcntl(self.proc.stdin.fileno(), _F_SETPIPE_SZ, 1 << 20)

    def write(self, data: bytes | memoryview) -> None:
        if self.closed:
            return
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            self.closed = True  # tar stops reading after the end-of-archive blocks

    def finish(self) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = self.proc.wait()
        self._err.seek(0)
        err = self._err.read().decode(errors="replace").strip()
        self._err.close()
        if rc != 0:
            raise errdefs.InvalidParameter(f"failed to extract layer: tar exited {rc}: {err}")

    def kill(self) -> None:
        self.proc.kill()
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait()
        self._err.close()


_MAX_HELD = 8 << 20  # extension headers held back for one entry


class _Feed:
    """Buffered reader that forwards every byte it hands out to hash + tar.

    An entry's header blocks are *held* until the entry's name is known; then
    they go to GNU tar (:meth:`release`) or nowhere (:meth:`drop`, for an entry
    written around tar, whose payload goes to :meth:`divert`).
    """

    def __init__(self, reader: ReadStream, tar: _TarProcess) -> None:
        self._reader = reader
        self._tar = tar
        self._buf = b""
        self._pos = 0
        self.hash = hashlib.sha256()
        self.total = 0
        self._held: list[bytes] | None = None
        self._held_size = 0
        self._divert: LongEntries | None = None

    def hold(self) -> None:
        if self._held is None:
            self._held, self._held_size = [], 0

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def release(self) -> None:
        held, self._held = self._held, None
        for data in held or ():
            self._tar.write(data)

    def drop(self) -> None:
        self._held = None

    def divert(self, sink: LongEntries | None) -> None:
        self._divert = sink

    def _fill(self, n: int) -> None:
        have = len(self._buf) - self._pos
        if have >= n:
            return
        parts = [self._buf[self._pos :]]
        while have < n:
            chunk = self._reader.read(CHUNK)
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf = b"".join(parts)
        self._pos = 0

    def _emit(self, data: memoryview) -> None:
        self.hash.update(data)
        self.total += len(data)
        if self._held is not None:
            self._held.append(bytes(data))
            self._held_size += len(data)
            if self._held_size > _MAX_HELD:
                raise errdefs.InvalidParameter("archive/tar: extension headers too large")
        elif self._divert is not None:
            self._divert.write(data)
        else:
            self._tar.write(data)

    def take(self, n: int) -> bytes:
        """Exactly ``n`` bytes, or fewer only at end of stream."""
        self._fill(n)
        data = self._buf[self._pos : self._pos + n]
        self._pos += len(data)
        self._emit(memoryview(data))
        return data

    def skip(self, n: int) -> int:
        """Forward ``n`` payload bytes without keeping them; return how many."""
        done = 0
        while done < n:
            self._fill(1)
            avail = len(self._buf) - self._pos
            if not avail:
                break
            step = min(avail, n - done)
            self._emit(memoryview(self._buf)[self._pos : self._pos + step])
            self._pos += step
            done += step
        return done

    def rest(self) -> bytes:
        """Everything left (trailer padding after the end-of-archive blocks)."""
        out: list[bytes] = []
        while True:
            chunk = self.take(CHUNK)
            if not chunk:
                return b"".join(out)
            out.append(chunk)


def _truncated() -> errdefs.InvalidParameter:
    return errdefs.InvalidParameter("failed to extract layer: unexpected EOF")


def _walk(feed: _Feed, split: TarSplitWriter | None, long: LongEntries) -> tuple[int, bool]:
    """Parse the stream entry by entry; return (summed regular file size, reproducible)."""
    guard = BreakoutGuard()
    by_ref_paths: set[bytes] = set()
    reproducible = True
    size_total = 0
    pax_global: dict[bytes, bytes] = {}
    pending: dict[bytes, bytes] = {}
    longname: bytes | None = None
    longlink: bytes | None = None

    def raw(data: bytes) -> None:
        if split is not None:
            split.raw(data)

    while True:
        feed.hold()
        block = feed.take(th.BLOCK)
        if not block:
            if feed.holding:
                raise _truncated()  # extension headers without their entry
            feed.release()
            return size_total, reproducible  # EOF at a block boundary: accepted
        if len(block) < th.BLOCK:
            raise _truncated()
        raw(block)
        if th.is_zero_block(block):
            feed.release()
            raw(feed.rest())
            return size_total, reproducible
        hdr = th.parse_header(block)
        if hdr.typeflag in th.EXTENSIONS:
            if hdr.size > th.MAX_EXT_HEADER:
                raise errdefs.InvalidParameter("archive/tar: extension header too large")
            body = feed.take(hdr.size + th.padding(hdr.size))
            if len(body) < hdr.size + th.padding(hdr.size):
                raise _truncated()
            raw(body)
            data = body[: hdr.size]
            if hdr.typeflag == th.GNU_LONGNAME:
                longname = data.split(b"\0", 1)[0]
            elif hdr.typeflag == th.GNU_LONGLINK:
                longlink = data.split(b"\0", 1)[0]
            elif hdr.typeflag == th.PAX_LOCAL:
                pending = th.parse_pax(data)
            else:
                pax_global.update(th.parse_pax(data))
                feed.release()  # GNU tar must see every global header
            continue
        if hdr.typeflag not in th.ENTRY_TYPES:
            raise errdefs.InvalidParameter(
                f"archive/tar: unsupported tar entry type {hdr.typeflag!r} for {hdr.name!r}"
            )
        th.apply_pax(hdr, {**pax_global, **pending})
        if longname is not None:
            hdr.name = longname
        if longlink is not None:
            hdr.linkname = longlink
        pending, longname, longlink = {}, None, None
        path = guard.check(hdr)
        around = len(path) > LONG_NAME or (
            hdr.typeflag == th.LNK and clean_name(hdr.linkname) in long.paths
        )
        if around:
            feed.drop()
            long.add(hdr, path)
            feed.divert(long)
        else:
            feed.release()
        if path in by_ref_paths:
            reproducible = False
            log.warning("layer tar writes %r twice: its exact bytes cannot be rebuilt", path)
        pad = th.padding(hdr.size)
        basename = path.rsplit(b"/", 1)[-1]
        by_ref = (
            split is not None
            and hdr.is_regular
            and hdr.size > 0
            and not hdr.is_sparse
            and not basename.startswith(b".wh.")
        )
        if by_ref:
            assert split is not None
            split.file(path, hdr.size)
            by_ref_paths.add(path)
            if feed.skip(hdr.size) < hdr.size:
                raise _truncated()
            pad_bytes = feed.take(pad)
            raw(pad_bytes)
        else:
            left = hdr.size + pad  # kept verbatim, in bounded chunks
            while left:
                body = feed.take(min(CHUNK, left))
                if not body:
                    raise _truncated()
                raw(body)
                left -= len(body)
        feed.divert(None)
        if hdr.is_regular:
            size_total += hdr.size


def apply_tar(source: ReadStream, dest: str, split_path: str | None = None) -> ApplyResult:
    """Extract the (possibly compressed) tar ``source`` into the empty dir ``dest``.

    Whiteout files are left as GNU tar wrote them (empty ``.wh.*`` files); the
    driver converts them. On error the caller must discard ``dest``.
    """
    kind, reader = decompressed(source)
    long = LongEntries(os.path.dirname(os.path.abspath(dest)))
    try:
        tar = _TarProcess(dest)
        split = TarSplitWriter(split_path) if split_path is not None else None
        feed = _Feed(reader, tar)
        try:
            try:
                size, reproducible = _walk(feed, split, long)
            except (zlib.error, lzma.LZMAError, zstandard.ZstdError, EOFError) as exc:
                raise errdefs.InvalidParameter(f"failed to decompress layer: {exc}") from exc
        except BaseException:
            tar.kill()
            if split is not None:
                split.abort()
            raise
        try:
            tar.finish()
            if long:
                long.extract(dest)
        except BaseException:
            if split is not None:
                split.abort()
            raise
    finally:
        long.close()
    if split is not None:
        split.close()
    return ApplyResult(
        diff_id="sha256:" + feed.hash.hexdigest(),
        size=size,
        tar_size=feed.total,
        compression=kind,
        reproducible=reproducible,
    )
