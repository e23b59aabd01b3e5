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
import shutil
import stat

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
    """Restore a directory's atime/mtime after we changed its entries."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.st = os.lstat(path)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        os.utime(self.path, ns=(self.st.st_atime_ns, self.st.st_mtime_ns), follow_symlinks=False)


def _remove(path: str) -> None:
    st = os.lstat(path)
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def convert_to_overlay(root: str) -> int:
    """Turn ``.wh.`` files under ``root`` into overlay whiteouts; return how many."""
    count = 0
    for dirpath, dirnames, filenames in os.walk(root):
        names = [n for n in (*filenames, *dirnames) if n.startswith(WH_PREFIX)]
        if not names:
            continue
        with _KeepTimes(dirpath):
            for name in names:
                path = os.path.join(dirpath, name)
                _remove(path)
                if name in dirnames:
                    dirnames.remove(name)
                if name == WH_OPAQUE:
                    os.setxattr(dirpath, OPAQUE_XATTR, b"y", follow_symlinks=False)
                elif not name.startswith(WH_META_PREFIX):
                    target = os.path.join(dirpath, name[len(WH_PREFIX) :])
                    if os.path.lexists(target):
                        _remove(target)
                    os.mknod(target, stat.S_IFCHR | 0o600, 0)
                    os.lchown(target, 0, 0)
                count += 1
    return count


def merge_with_deletions(staging: str, target: str) -> None:
    """Move the extracted ``staging`` tree onto ``target``, applying whiteouts.

    Used by vfs, where ``target`` starts as a full copy of the parent layer.
    Never follows a symlink inside ``target``: a non-directory in the way is
    replaced, not entered.
    """
    with _KeepTimes(target):
        _merge_dir(staging, target)


def _merge_dir(src: str, dst: str) -> None:
    names = os.listdir(src)
    if WH_OPAQUE in names:
        for old in os.listdir(dst):
            _remove(os.path.join(dst, old))
    for name in names:
        if name.startswith(WH_PREFIX):
            if not name.startswith(WH_META_PREFIX):
                victim = os.path.join(dst, name[len(WH_PREFIX) :])
                if os.path.lexists(victim):
                    _remove(victim)
            continue
    for name in names:
        if name.startswith(WH_PREFIX):
            continue
        s_path = os.path.join(src, name)
        d_path = os.path.join(dst, name)
        s_st = os.lstat(s_path)
        try:
            d_st: os.stat_result | None = os.lstat(d_path)
        except FileNotFoundError:
            d_st = None
        if stat.S_ISDIR(s_st.st_mode) and d_st is not None and stat.S_ISDIR(d_st.st_mode):
            _merge_dir(s_path, d_path)
            _copy_dir_meta(s_path, s_st, d_path)
            continue
        if d_st is not None:
            _remove(d_path)
        os.rename(s_path, d_path)


def _copy_dir_meta(src: str, st: os.stat_result, dst: str) -> None:
    """Give an existing directory the metadata the layer's entry carries."""
    os.lchown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    for key in os.listxattr(src, follow_symlinks=False):
        os.setxattr(dst, key, os.getxattr(src, key, follow_symlinks=False), follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
