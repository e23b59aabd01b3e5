"""Disk usage of a volume's data (moby's ``pkg/directory.Size``).

Apparent file sizes, each inode counted once (hard links), symlinks not
followed. Used by ``system df`` and by prune's SpaceReclaimed. The walk is
:func:`berthd.lib.fdtree.tree_bytes`: iterative and by directory fds, so a tree
of any depth or path length a container wrote into its volume is counted.
"""

from __future__ import annotations

import logging

from berthd.lib.fdtree import tree_bytes

__all__ = ["directory_size"]

log = logging.getLogger(__name__)


def directory_size(path: str) -> int:
    """Blocking: bytes under ``path``; files that vanish while walking are skipped."""
    try:
        return tree_bytes(path)
    except OSError as exc:  # the tree changed under us beyond a vanished file
        log.warning("cannot measure %s: %s", path, exc)
        return 0
