"""Layer entries whose path is too long for GNU tar, written by directory fds.

GNU tar opens every member by its whole name relative to ``-C``, so a name near
``PATH_MAX`` (4,096 bytes) fails with ``ENAMETOOLONG``, though the kernel holds
such trees happily (a container's ``mkdir d; cd d`` 3,000 times makes one).
:func:`berthd.lib.archive.apply_tar` keeps GNU tar for everything else and
hands these entries here instead: their headers (already vetted by the breakout
guard) are kept, their payloads spooled to an unlinked temp file, and once GNU
tar has finished they are created in archive order, each relative to the fd of
its parent directory (:class:`berthd.lib.fdtree.DirChain`, moved from one entry
to the next, so a deep chain costs one ``openat`` per entry). No component is
followed: a symlink on the way is refused (the guard already refused any that
leads out). Directory times (ours, and those of GNU tar's directories we
added entries to) are set last, deepest first, as tar does.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from typing import IO

from berthd import errdefs
from berthd.lib.fdtree import DirChain, at_path, open_dir_beneath, remove_at

from . import tarheader as th

__all__ = ["LONG_NAME", "LongEntries"]

# Longer relative names go around GNU tar (some slack below PATH_MAX for its
# own temporary names beside a member).
LONG_NAME = 3072
_KINDS = {th.CHR: stat.S_IFCHR, th.BLK: stat.S_IFBLK, th.FIFO: stat.S_IFIFO}
CHUNK = 1 << 20


class LongEntries:
    """Collects the long entries of one layer tar, then writes them."""

    def __init__(self, spool_dir: str) -> None:
        self._spool: IO[bytes] = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - close()
        self._items: list[tuple[th.Header, bytes, int]] = []
        self.paths: set[bytes] = set()
        self._left = 0

    def add(self, hdr: th.Header, path: bytes) -> None:
        """Keep ``hdr`` (named ``path``); its payload follows through :meth:`write`."""
        if hdr.is_sparse:
            raise errdefs.InvalidParameter(
                f"failed to extract layer: sparse file with a long name: {os.fsdecode(path)!r}"
            )
        self._items.append((hdr, path, self._spool.tell()))
        self.paths.add(path)
        self._left = hdr.size if hdr.is_regular else 0

    def write(self, data: bytes | memoryview) -> None:
        """Payload bytes of the last entry added (its padding is dropped)."""
        take = data[: self._left]
        if take:
            self._spool.write(take)
            self._left -= len(take)

    def __bool__(self) -> bool:
        return bool(self._items)

    def close(self) -> None:
        self._spool.close()

    def extract(self, dest: str) -> None:
        """Create every kept entry under ``dest`` (GNU tar has finished)."""
        self._spool.flush()
        times: dict[tuple[str, ...], tuple[int, int]] = {}
        with DirChain(dest) as chain:
            for hdr, raw, offset in self._items:
                parts = os.fsdecode(raw).split("/")
                try:
                    self._one(chain, parts, hdr, offset, times, dest)
                except OSError as exc:
                    raise errdefs.InvalidParameter(
                        f"failed to extract layer: {os.fsdecode(raw)!r}: {exc.strerror}"
                    ) from exc
            for parts_key, (atime, mtime) in reversed(list(times.items())):
                try:
                    chain.goto(list(parts_key))
                except OSError:
                    continue
                os.utime(chain.fd, ns=(atime, mtime))

    def _one(
        self,
        chain: DirChain,
        parts: list[str],
        hdr: th.Header,
        offset: int,
        times: dict[tuple[str, ...], tuple[int, int]],
        dest: str,
    ) -> None:
        parent, name = parts[:-1], parts[-1]
        chain.goto(parent, create=lambda fd, n: os.mkdir(n, 0o755, dir_fd=fd))
        pfd = chain.fd
        key = tuple(parent)
        if key not in times:
            st = os.fstat(pfd)
            times[key] = (st.st_atime_ns, st.st_mtime_ns)
        mode = hdr.mode & 0o7777
        mtime_ns = hdr.mtime * 1_000_000_000
        if hdr.typeflag == th.DIR:
            try:
                os.mkdir(name, 0o700, dir_fd=pfd)
            except FileExistsError:
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):
                    remove_at(pfd, name)
                    os.mkdir(name, 0o700, dir_fd=pfd)
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=pfd)
            try:
                self._meta(fd, hdr, mode)
            finally:
                os.close(fd)
            times[(*parent, name)] = (mtime_ns, mtime_ns)
            return
        self._clear(pfd, name)
        if hdr.is_regular:
            fd = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=pfd,
            )
            try:
                self._copy(fd, offset, hdr.size)
                self._meta(fd, hdr, mode)
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            finally:
                os.close(fd)
        elif hdr.typeflag == th.SYM:
            os.symlink(os.fsdecode(hdr.linkname), name, dir_fd=pfd)
            os.chown(name, hdr.uid, hdr.gid, dir_fd=pfd, follow_symlinks=False)
            os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=pfd, follow_symlinks=False)
        elif hdr.typeflag == th.LNK:
            target = [p for p in os.fsdecode(hdr.linkname).split("/") if p not in ("", ".")]
            top = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                tfd = open_dir_beneath(top, target[:-1])
            finally:
                os.close(top)
            try:
                os.link(target[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            finally:
                os.close(tfd)
        elif hdr.typeflag in _KINDS:
            dev = os.makedev(hdr.devmajor, hdr.devminor)
            os.mknod(name, _KINDS[hdr.typeflag] | 0o600, dev, dir_fd=pfd)
            os.chown(name, hdr.uid, hdr.gid, dir_fd=pfd, follow_symlinks=False)
            os.chmod(name, mode, dir_fd=pfd)
            os.utime(name, ns=(mtime_ns, mtime_ns), dir_fd=pfd, follow_symlinks=False)
            self._xattrs(at_path(pfd, name), hdr)
        else:
            raise OSError(errno.EINVAL, f"unsupported entry type {hdr.typeflag!r}")

    @staticmethod
    def _clear(pfd: int, name: str) -> None:
        """A non-directory replaces what was there; a directory is not replaced."""
        try:
            st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            raise OSError(errno.EISDIR, "cannot replace a directory with a non-directory")
        os.unlink(name, dir_fd=pfd)

    def _copy(self, fd: int, offset: int, size: int) -> None:
        src = self._spool.fileno()
        while size:
            chunk = os.pread(src, min(CHUNK, size), offset)
            if not chunk:
                raise OSError(errno.EIO, "layer spool is short")
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
            offset += len(chunk)
            size -= len(chunk)

    def _meta(self, fd: int, hdr: th.Header, mode: int) -> None:
        os.fchown(fd, hdr.uid, hdr.gid)
        os.fchmod(fd, mode)  # after chown, which clears setuid bits
        self._xattrs(fd, hdr)

    @staticmethod
    def _xattrs(target: int | str, hdr: th.Header) -> None:
        for key, value in hdr.pax.items():
            if key.startswith(b"SCHILY.xattr."):
                attr = os.fsdecode(key[len(b"SCHILY.xattr.") :])
                if isinstance(target, int):
                    os.setxattr(target, attr, value)
                else:
                    os.setxattr(target, attr, value, follow_symlinks=False)
