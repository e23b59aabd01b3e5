"""The temp files blob downloads use, and their removal at start-up.

Kept apart from ``download`` so the daemon can clean up without loading the pull code.
"""

from __future__ import annotations

import os

__all__ = ["TEMP_PREFIX", "remove_temp_files"]

TEMP_PREFIX = "GetImageBlob"


def remove_temp_files(tmp_dir: str) -> list[str]:
    """Drop the blob downloads a killed daemon left in ``tmp_dir``."""
    removed: list[str] = []
    try:
        names = os.listdir(tmp_dir)
    except FileNotFoundError:
        return removed
    for name in names:
        if name.startswith(TEMP_PREFIX):
            try:
                os.unlink(os.path.join(tmp_dir, name))
                removed.append(name)
            except OSError:
                pass
    return removed
