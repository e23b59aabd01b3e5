"""Whiteouts: how a layer says "this file is gone".

In a layer *tar* a deletion is an empty file ``.wh.<name>`` and "hide all that
the lower layers had in this directory" is ``<dir>/.wh..wh..opq`` (the AUFS
convention, kept by the OCI image spec). On *disk* the drivers differ:

* overlay2 keeps the kernel's form: a 0/0 character device named ``<name>``
  and the ``trusted.overlay.opaque=y`` xattr on the directory;
* vfs has no lower layers at run time, so the deletions are simply applied to
  the copy of the parent.

GNU tar extracts whiteouts as plain empty files; these passes convert them
afterwards. Directory times are restored so the pass leaves no trace.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator

from berthd.lib.fdtree import DirChain, TreeWalk, remove_at

__all__ = [
    "OPAQUE_XATTR",
    "WH_META_PREFIX",
    "WH_OPAQUE",
    "WH_PREFIX",
    "is_whiteout_device",
    "is_opaque_dir",
    "convert_to_overlay",
    "merge_with_deletions",
]

WH_PREFIX = ".wh."
WH_META_PREFIX = ".wh..wh."
WH_OPAQUE = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"


def is_whiteout_device(st: os.stat_result) -> bool:
    """True for the overlay whiteout: a character device numbered 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque_dir(path: str | bytes) -> bool:
    try:
        return os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False) == b"y"
    except OSError:
        return False


class _KeepTimes:
    """Restore a directory's atime/mtime (by its fd) after we changed its entries."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.st = os.fstat(fd)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        os.utime(self.fd, ns=(self.st.st_atime_ns, self.st.st_mtime_ns))


def convert_to_overlay(root: str) -> int:
    """Turn ``.wh.`` files under ``root`` into overlay whiteouts; return how many.

    One iterative walk by directory fds (any depth); a ``.wh.`` directory is
    removed, not entered.
    """
    count = 0
    with TreeWalk(root, stats=False) as walk:
        for entry in walk:
            name = entry.name
            if not name.startswith(WH_PREFIX):
                continue
            walk.skip()
            dfd = entry.dir_fd
            with _KeepTimes(dfd):
                remove_at(dfd, name)
                if name == WH_OPAQUE:
                    os.setxattr(dfd, OPAQUE_XATTR, b"y")
                elif not name.startswith(WH_META_PREFIX):
                    target = name[len(WH_PREFIX) :]
                    remove_at(dfd, target)
                    os.mknod(target, stat.S_IFCHR | 0o600, 0, dir_fd=dfd)
                    os.chown(target, 0, 0, dir_fd=dfd, follow_symlinks=False)
            count += 1
    return count


def merge_with_deletions(staging: str, target: str) -> None:
    """Move the extracted ``staging`` tree onto ``target``, applying whiteouts.

    Used by vfs, where ``target`` starts as a full copy of the parent layer.
    Never follows a symlink inside ``target``: a non-directory in the way is
    replaced, not entered. Iterative, by directory fds: any depth.
    """
    with DirChain(staging) as src, DirChain(target) as dst, _KeepTimes(dst.fd):
        # Frames: the names left to move, and the source dir's stat from before
        # its entries were moved out (its mtime is what the layer says).
        stack: list[tuple[Iterator[str], os.stat_result | None]] = [
            (_merge_start(src.fd, dst.fd), None)
        ]
        while stack:
            names, dir_st = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if dir_st is not None:
                    _copy_dir_meta(src.fd, dir_st, dst.fd)
                    src.pop()
                    dst.pop()
                continue
            s_st = os.stat(name, dir_fd=src.fd, follow_symlinks=False)
            try:
                d_st: os.stat_result | None = os.stat(name, dir_fd=dst.fd, follow_symlinks=False)
            except FileNotFoundError:
                d_st = None
            both_dirs = d_st is not None and stat.S_ISDIR(d_st.st_mode)
            if stat.S_ISDIR(s_st.st_mode) and both_dirs and src.push(name):
                if dst.push(name):
                    stack.append((_merge_start(src.fd, dst.fd), s_st))
                    continue
                src.pop()
            if d_st is not None:
                remove_at(dst.fd, name)
            os.rename(name, name, src_dir_fd=src.fd, dst_dir_fd=dst.fd)


def _merge_start(src: int, dst: int) -> Iterator[str]:
    """Apply one directory's whiteouts to ``dst``; return the names left to move."""
    names = sorted(os.listdir(src))
    if WH_OPAQUE in names:
        for old in os.listdir(dst):
            remove_at(dst, old)
    for name in names:
        if name.startswith(WH_PREFIX) and not name.startswith(WH_META_PREFIX):
            remove_at(dst, name[len(WH_PREFIX) :])
    return iter([n for n in names if not n.startswith(WH_PREFIX)])


def _copy_dir_meta(src: int, st: os.stat_result, dst: int) -> None:
    """Give an existing directory the metadata the layer's entry carries."""
    os.chown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for key in os.listxattr(src):
        os.setxattr(dst, key, os.getxattr(src, key))
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
