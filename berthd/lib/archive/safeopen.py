"""Open a file beneath a directory without ever following a symlink.

Used wherever we read layer or container content by a path that came from
metadata: each component is opened with ``O_NOFOLLOW`` relative to the
previous one, so a symlink planted anywhere on the way fails with ``ELOOP``
instead of leading outside the tree.
"""

from __future__ import annotations

import errno
import os

__all__ = ["open_beneath"]


def open_beneath(root: str, relpath: bytes | str, flags: int = os.O_RDONLY) -> int:
    """Return an fd for ``root/relpath``; no component may be a symlink or ``..``."""
    rel = os.fsencode(relpath)
    parts = [p for p in rel.split(b"/") if p not in (b"", b".")]
    if not parts or b".." in parts:
        raise OSError(errno.EINVAL, "bad relative path", os.fsdecode(rel))
    dirfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            nxt = os.open(
                part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd
            )
            os.close(dirfd)
            dirfd = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dirfd)
    finally:
        os.close(dirfd)
