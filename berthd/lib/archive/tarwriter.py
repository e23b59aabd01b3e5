"""Write tar streams from directory trees.

Used for a layer's diff (commit, push of a new layer), ``docker export`` of a
container's merged rootfs, and the changes of a vfs container. Output is POSIX
ustar with PAX extensions only where needed (long names, big ids, xattrs),
like Go's ``archive/tar`` in dockerd; user/group *names* are left empty so the
bytes depend only on the tree, never on the host's passwd file.

Reading is careful about a tree that may belong to a running container: we
``lstat`` and never follow symlinks, and open files with ``O_NOFOLLOW``.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable, Iterator

from .whiteouts import OPAQUE_XATTR, WH_OPAQUE, WH_PREFIX, is_whiteout_device

__all__ = ["TarBuilder", "tar_tree"]

CHUNK = 1 << 20
_END = b"\0" * 1024
# Which xattrs travel in a layer tar: file capabilities (as dockerd) and user.*.
_KEEP_XATTR_PREFIXES = ("security.capability", "user.")


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
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return  # vanished under a running container: skip, as dockerd does
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)
        info.pax_headers = _xattrs(path)
        mode = st.st_mode
        payload = False
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
            info.name = name.rstrip("/") + "/"
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(path)
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
            if info.type == tarfile.DIRTYPE and self._overlay and _opaque(path):
                opq = tarfile.TarInfo(info.name + WH_OPAQUE)
                opq.mode = info.mode & 0o777
                opq.uid, opq.gid, opq.mtime = info.uid, info.gid, info.mtime
                yield self._header(opq)
            return
        yield from self._file(path, info)

    def _file(self, path: str, info: tarfile.TarInfo) -> Iterator[bytes]:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
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


def _walk(root: str, rel: str = "") -> Iterator[str]:
    """Relative paths under ``root`` in lexical order, parents first."""
    base = os.path.join(root, rel) if rel else root
    try:
        names = sorted(os.listdir(base))
    except (FileNotFoundError, NotADirectoryError):
        return
    for name in names:
        child = f"{rel}/{name}" if rel else name
        yield child
        if stat.S_ISDIR(os.lstat(os.path.join(root, child)).st_mode):
            yield from _walk(root, child)


def tar_tree(
    root: str, *, overlay_whiteouts: bool = False, names: Iterable[str] | None = None
) -> Iterator[bytes]:
    """Tar the tree under ``root`` (or only ``names``, relative paths, in order).

    With ``overlay_whiteouts`` the overlay on-disk whiteouts become ``.wh.``
    entries again, as a layer tar must carry them.
    """
    builder = TarBuilder(overlay_whiteouts)
    for rel in names if names is not None else _walk(root):
        yield from builder.add(os.path.join(root, rel), rel)
    yield builder.end()
