"""Go's ``path.Clean`` / ``filepath.Clean`` on Unix."""

from __future__ import annotations

import posixpath

__all__ = ["clean"]


def clean(path: str) -> str:
    """Lexically clean ``path``; unlike ``posixpath.normpath``, ``//a`` becomes ``/a``."""
    cleaned = posixpath.normpath(path) if path else "."
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned
