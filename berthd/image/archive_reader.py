"""Random access to a hostile image archive without extracting it.

``docker load`` receives an untrusted tar. dockerd untars it into a temp dir inside a
chroot; berthd never writes archive paths to disk at all. The (decompressed) stream is
spooled to one anonymous temp file, ``tarfile`` reads only the member headers, and
member contents are read back from the spool by name. Names are resolved like moby's
``symlink.FollowSymlinkInScope``: ``..`` may not leave the archive root (an error, as
in dockerd's ``safePath``), symlinks inside the archive are followed with ``..`` clamped
at the root (old ``docker save`` deduplicated layers with symlinks), hops are bounded.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import tarfile
import tempfile
from typing import IO, BinaryIO, cast

import zstandard

from berthd import errdefs

__all__ = ["ArchiveReader", "decompress_stream", "detect_compression"]

MAX_MEMBERS = 200_000  # headers kept in memory; real archives have a few per layer
MAX_METADATA_SIZE = 32 * 1024 * 1024  # manifest.json, index.json, configs
MAX_SYMLINK_HOPS = 255
_CHUNK = 1024 * 1024


def detect_compression(head: bytes) -> str:
    """``compression.Detect``: gzip, bzip2, xz, zstd or "" (uncompressed)."""
    if head.startswith(b"\x1f\x8b\x08"):
        return "gzip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    return ""


def decompress_stream(raw: BinaryIO) -> BinaryIO:
    """``compression.DecompressStream``: sniff the magic, return an uncompressed reader.

    ``raw`` must support ``peek`` or be wrapped so it does (a BufferedReader).
    """
    buffered = raw if hasattr(raw, "peek") else io.BufferedReader(cast(io.RawIOBase, raw))
    head = cast(io.BufferedReader, buffered).peek(10)[:10]
    kind = detect_compression(head)
    if kind == "gzip":
        return cast(BinaryIO, gzip.GzipFile(fileobj=buffered, mode="rb"))
    if kind == "bzip2":
        return cast(BinaryIO, bz2.BZ2File(buffered, "rb"))
    if kind == "xz":
        return cast(BinaryIO, lzma.LZMAFile(buffered, "rb"))
    if kind == "zstd":
        reader = zstandard.ZstdDecompressor().stream_reader(buffered, read_across_frames=True)
        return cast(BinaryIO, io.BufferedReader(reader))
    return buffered


class ArchiveReader:
    """An image archive spooled to an anonymous temp file, indexed by member name.

    Use as a context manager; blocking I/O throughout.
    """

    def __init__(
        self, stream: BinaryIO, tmp_dir: str | None = None, max_size: int | None = None
    ) -> None:
        self._spool: IO[bytes] = tempfile.TemporaryFile(dir=tmp_dir)  # noqa: SIM115 - owned
        try:
            _copy_bounded(decompress_stream(stream), self._spool, max_size)
            self._spool.seek(0)
            self._tar = tarfile.open(fileobj=self._spool, mode="r:")  # noqa: SIM115
            self._members: dict[str, tarfile.TarInfo] = {}
            for count, member in enumerate(self._tar, 1):
                if count > MAX_MEMBERS:
                    raise errdefs.InvalidParameter("archive has too many entries")
                name = _clean_member_name(member.name)
                if name:
                    self._members[name] = member
        except tarfile.TarError as err:
            self._spool.close()
            raise errdefs.InvalidParameter(f"invalid archive: {err}") from None
        except BaseException:
            self._spool.close()
            raise

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._tar.close()
        self._spool.close()

    # --- names ----------------------------------------------------------------------
    def resolve(self, path: str) -> str:
        """The member name ``path`` designates, symlinks followed, kept inside the root."""
        rel = posixpath.normpath("./" + path)
        if rel == ".." or rel.startswith("../"):
            raise errdefs.InvalidParameter(
                f"invalid archive path {path!r}: not in the archive's scope"
            )
        pending = [p for p in rel.split("/") if p not in ("", ".")]
        resolved: list[str] = []
        hops = 0
        while pending:
            part = pending.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/".join([*resolved, part])
            member = self._members.get(candidate)
            if member is not None and member.issym():
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise errdefs.InvalidParameter(f"too many links resolving {path!r}")
                target = member.linkname
                if target.startswith("/"):
                    resolved = []
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                continue
            resolved.append(part)
        return "/".join(resolved)

    def exists(self, path: str) -> bool:
        try:
            name = self.resolve(path)
        except errdefs.InvalidParameter:
            return False
        member = self._members.get(name)
        return member is not None and (member.isreg() or member.islnk())

    def _regular(self, path: str) -> tarfile.TarInfo:
        name = self.resolve(path)
        member = self._members.get(name)
        if member is None or not (member.isreg() or member.islnk()):
            raise errdefs.InvalidParameter(f"open {path}: no such file or directory")
        return member

    # --- contents -------------------------------------------------------------------
    def size(self, path: str) -> int:
        member = self._regular(path)
        if member.islnk():
            target = self._members.get(_clean_member_name(member.linkname))
            return target.size if target is not None else 0
        return member.size

    def read_small(self, path: str, limit: int = MAX_METADATA_SIZE) -> bytes:
        """Read a metadata file whole, refusing anything over ``limit`` bytes."""
        member = self._regular(path)
        if self.size(path) > limit:
            raise errdefs.InvalidParameter(f"{path} is too large")
        f = self._open_member(member)
        return f.read(limit + 1)[:limit]

    def open(self, path: str) -> BinaryIO:
        """A reader over a member's bytes (e.g. a layer), streamed from the spool."""
        return self._open_member(self._regular(path))

    def _open_member(self, member: tarfile.TarInfo) -> BinaryIO:
        if member.islnk():
            target = self._members.get(_clean_member_name(member.linkname))
            if target is None or not target.isreg():
                raise errdefs.InvalidParameter(f"broken hard link {member.name!r}")
            member = target
        f = self._tar.extractfile(member)
        if f is None:  # pragma: no cover - regular members always have data
            raise errdefs.InvalidParameter(f"cannot read {member.name!r}")
        return cast(BinaryIO, f)


def _copy_bounded(src: BinaryIO, dst: IO[bytes], max_size: int | None) -> None:
    """Copy, refusing more than ``max_size`` (uncompressed) bytes: a bound on bombs."""
    total = 0
    while chunk := src.read(_CHUNK):
        total += len(chunk)
        if max_size is not None and total > max_size:
            raise errdefs.InvalidParameter(f"archive is larger than {max_size} bytes")
        dst.write(chunk)


def _clean_member_name(name: str) -> str:
    """Archive names as keys: no leading "./" or "/", no trailing "/"."""
    cleaned = posixpath.normpath("/" + name).lstrip("/")
    return "" if cleaned == "." else cleaned
