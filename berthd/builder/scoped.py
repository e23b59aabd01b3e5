"""Resolve a path inside a tree the way moby's ``FollowSymlinkInScope`` does.

Symlinks met on the way are followed, but ``/`` and ``..`` never climb out of
``root``: a hostile context or image can make a path resolve somewhere odd
inside its own tree, never outside. Blocking (lstat/readlink).
"""

from __future__ import annotations

import os
import posixpath

from berthd import errdefs

__all__ = ["clean_rel", "resolve_in_scope"]

_MAX_LINKS = 255


def clean_rel(path: str) -> str:
    """``path`` cleaned and relative to the root ("" for the root itself)."""
    cleaned = posixpath.normpath("/" + path)
    return cleaned.lstrip("/")


def resolve_in_scope(root: str, path: str, follow_last: bool = True) -> str:
    """The host path of ``path`` inside ``root``, symlinks resolved in scope.

    With ``follow_last`` False the last component is not followed (COPY of a
    symlink copies the link).
    """
    parts = [p for p in clean_rel(path).split("/") if p]
    done: list[str] = []
    hops = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, name)
        if not parts and not follow_last:
            done.append(name)
            break
        try:
            is_link = os.path.islink(candidate)
        except OSError:
            is_link = False
        if not is_link:
            done.append(name)
            continue
        hops += 1
        if hops > _MAX_LINKS:
            raise errdefs.InvalidParameter(f"too many links in {path}")
        target = os.readlink(candidate)
        if target.startswith("/"):
            done = []
        parts = [p for p in target.split("/") if p and p != "."] + parts
    return os.path.join(root, *done)
