"""Disk usage of a volume's data (moby's ``pkg/directory.Size``).

Apparent file sizes, each inode counted once (hard links), symlinks not
followed. Used by ``system df`` and by prune's SpaceReclaimed.
"""

from __future__ import annotations

import os

__all__ = ["directory_size"]


def directory_size(path: str) -> int:
    """Blocking: bytes under ``path``; files that vanish while walking are skipped."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_size
    return total
