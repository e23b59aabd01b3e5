"""Crash-safe file writes for the image stores.

dockerd's stores rely on ``ioutils.AtomicWriteFile``; berthd goes further (DESIGN.md):
temp file in the same directory, fsync, rename over the target, fsync the directory. A
``kill -9`` at any instant then leaves either the old or the new file, never half of one.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["atomic_write", "fsync_dir"]


def fsync_dir(path: str) -> None:
    """Flush a directory entry so a rename/unlink inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` atomically (temp + fsync + rename + fsync dir)."""
    directory = os.path.dirname(path) or "."
    tmp = f"{path}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)
