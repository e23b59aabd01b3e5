"""Crash-safe writes for the layer database.

Every layerdb entry is written as a whole directory: files go into a fresh
temp directory, each is fsync'd, the directory is fsync'd, then it is renamed
into place and the parent fsync'd. A ``kill -9`` at any instant leaves either
no entry or a complete one; leftover temp directories are removed at startup.
"""

from __future__ import annotations

import ctypes
import os

from berthd.lib import fdtree
from berthd.lib.atomicfile import fsync_dir
from berthd.lib.libc import LIBC

__all__ = ["fsync_dir", "rmtree", "syncfs", "write_file"]

_libc = LIBC


def write_file(path: str, data: bytes, mode: int = 0o644) -> None:
    """Create ``path`` (which must not exist) with ``data``, fsync'd."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


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
