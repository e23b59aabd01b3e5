"""Crash-safe writes for the layer database.

Every layerdb entry is written as a whole directory: files go into a fresh
temp directory, each is fsync'd, the directory is fsync'd, then it is renamed
into place and the parent fsync'd. A ``kill -9`` at any instant leaves either
no entry or a complete one; leftover temp directories are removed at startup.
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor

from berthd.lib import fdtree
from berthd.lib.atomicfile import fsync_dir
from berthd.lib.libc import LIBC

__all__ = ["fsync_all", "fsync_dir", "rmtree", "syncfs", "write_file"]

_libc = LIBC


def write_file(path: str, data: bytes, mode: int = 0o644, sync: bool = True) -> None:
    """Create ``path`` (which must not exist) with ``data``, fsync'd (``sync``)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


_FSYNC_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fsync")


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_all(paths: list[str]) -> None:
    """fsync every file and directory in ``paths``, all at once.

    Concurrent fsyncs join one journal commit (ext4's jbd2, XFS's log), where the
    same calls one after the other wait for one commit each, and each commit can
    wait for other writers' data. Unlike ``syncfs`` it flushes nothing of theirs.
    """
    for _ in _FSYNC_POOL.map(_fsync_path, paths):
        pass


def syncfs(path: str) -> None:
    """Flush the whole file system holding ``path`` (after unpacking a layer).

    One ``syncfs(2)`` is far cheaper than fsync'ing thousands of files, and it
    makes an unpacked layer durable before its layerdb entry says it exists.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _libc.syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), path)
    finally:
        os.close(fd)


def rmtree(path: str) -> None:
    """Remove a tree if it exists, including read-only and immutable-free dirs.

    Iterative and by directory fds (:func:`berthd.lib.fdtree.rmtree`): a layer
    is a tree its container shaped, of any depth and path length.
    """
    fdtree.rmtree(path)
