"""Write tar streams from directory trees.

Used for a layer's diff (commit, push of a new layer), ``docker export`` of a
container's merged rootfs, and the changes of a vfs container. Output is POSIX
ustar with PAX extensions only where needed (long names, big ids, xattrs),
like Go's ``archive/tar`` in dockerd; user/group *names* are left empty so the
bytes depend only on the tree, never on the host's passwd file.

Reading is careful about a tree that may belong to a running container: we
``lstat`` and never follow symlinks, and open files with ``O_NOFOLLOW``. Trees
are walked with :class:`berthd.lib.fdtree.TreeWalk` and each entry is read
relative to its directory's fd, so depth and path length are unbounded.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable, Iterator

from berthd.lib.fdtree import TreeWalk, at_path

from .whiteouts import OPAQUE_XATTR, WH_OPAQUE, WH_PREFIX, is_whiteout_device

__all__ = ["TarBuilder", "tar_tree"]

CHUNK = 1 << 20
_END = b"\0" * 1024
# Which xattrs travel in a layer tar: file capabilities (as dockerd) and user.*.
_KEEP_XATTR_PREFIXES = ("security.capability", "user.")


def _where(dir_fd: int | None, name: str) -> str:
    """A path for the calls that have no ``dir_fd`` form (xattrs)."""
    return name if dir_fd is None else at_path(dir_fd, name)


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        keys = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return out
    for key in sorted(keys):
        if key.startswith(_KEEP_XATTR_PREFIXES):
            try:
                value = os.getxattr(path, key, follow_symlinks=False)
            except OSError:
                continue
            out["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
    return out


class TarBuilder:
    """Emits tar headers and payloads for files added one by one."""

    def __init__(self, overlay_whiteouts: bool = False) -> None:
        self._overlay = overlay_whiteouts
        self._links: dict[tuple[int, int], str] = {}

    @staticmethod
    def _header(info: tarfile.TarInfo) -> bytes:
        info.uname = info.gname = ""
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def whiteout(self, name: str, mtime: int = 0) -> bytes:
        """An AUFS-style deletion entry for ``name`` (relative path)."""
        head, _, base = name.rpartition("/")
        info = tarfile.TarInfo((head + "/" if head else "") + WH_PREFIX + base)
        info.mode = 0o600
        info.mtime = mtime
        return self._header(info)

    def add(self, path: str, name: str) -> Iterator[bytes]:
        """Yield the entry for the file at ``path`` named ``name`` in the tar."""
        return self.add_at(None, path, name)

    def add_at(
        self, dir_fd: int | None, base: str, name: str, st: os.stat_result | None = None
    ) -> Iterator[bytes]:
        """Yield the entry for ``base`` in the directory ``dir_fd`` (None: ``base``
        is a path), named ``name`` in the tar; ``st`` is its lstat if known."""
        if st is None:
            try:
                st = os.stat(base, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                return  # vanished under a running container: skip, as dockerd does
        where = _where(dir_fd, base)
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)
        info.pax_headers = _xattrs(where)
        mode = st.st_mode
        payload = False
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
            info.name = name.rstrip("/") + "/"
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            try:
                info.linkname = os.readlink(base, dir_fd=dir_fd)
            except FileNotFoundError:
                return
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            if self._overlay and is_whiteout_device(st):
                head, _, base = name.rpartition("/")
                info.name = (head + "/" if head else "") + WH_PREFIX + base
                info.mode = 0o600
                info.pax_headers = {}
                yield self._header(info)
                return
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in self._links:
                info.type = tarfile.LNKTYPE
                info.linkname = self._links[key]
            else:
                if st.st_nlink > 1:
                    self._links[key] = name
                info.type = tarfile.REGTYPE
                info.size = st.st_size
                payload = True
        else:
            return  # sockets and the like do not go into a tar
        if not payload:
            yield self._header(info)
            if info.type == tarfile.DIRTYPE and self._overlay and _opaque(where):
                opq = tarfile.TarInfo(info.name + WH_OPAQUE)
                opq.mode = info.mode & 0o777
                opq.uid, opq.gid, opq.mtime = info.uid, info.gid, info.mtime
                yield self._header(opq)
            return
        yield from self._file(dir_fd, base, info)

    def _file(self, dir_fd: int | None, base: str, info: tarfile.TarInfo) -> Iterator[bytes]:
        try:
            fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        except OSError:
            return
        with os.fdopen(fd, "rb") as f:
            yield self._header(info)
            left = info.size
            while left:
                chunk = f.read(min(CHUNK, left))
                if not chunk:  # file shrank while we read it: pad with zeros
                    chunk = b"\0" * min(CHUNK, left)
                left -= len(chunk)
                yield chunk
        pad = (-info.size) % 512
        if pad:
            yield b"\0" * pad

    @staticmethod
    def end() -> bytes:
        return _END


def _opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


def tar_tree(
    root: str, *, overlay_whiteouts: bool = False, names: Iterable[str] | None = None
) -> Iterator[bytes]:
    """Tar the tree under ``root`` (or only ``names``, relative paths, in order).

    With ``overlay_whiteouts`` the overlay on-disk whiteouts become ``.wh.``
    entries again, as a layer tar must carry them.
    """
    builder = TarBuilder(overlay_whiteouts)
    if names is not None:
        for rel in names:
            yield from builder.add(os.path.join(root, rel), rel)
    else:
        try:
            walk = TreeWalk(root)
        except (FileNotFoundError, NotADirectoryError):
            walk = None
        if walk is not None:
            with walk:
                for entry in walk:
                    yield from builder.add_at(entry.dir_fd, entry.name, entry.path, entry.st)
    yield builder.end()
