"""Rotation of a container's log file: ``max-size`` × ``max-file`` as dockerd keeps them.

conmon writes one file and can only replace it with an empty one when it
reaches ``--log-size-max``. berthd rotates instead, as dockerd's json-file
logger does: once ``<log>`` reaches ``max-size``, ``<log>.1`` … move up one
(the oldest beyond ``max-file - 1`` is deleted), ``<log>`` becomes ``<log>.1``
and conmon is told to reopen its log, which creates a fresh ``<log>``. conmon
writes into the renamed file until it reopens, so no line is lost. While berthd
is down nothing rotates; conmon's own limit (``max-size × max-file``) then
bounds the file.

The reader reads the rotated files, oldest first, before the current one.
"""

from __future__ import annotations

import os
import re

__all__ = ["rotate", "rotated_files"]


def rotated_files(path: str) -> list[str]:
    """The rotated files of ``path`` that exist, oldest first (``.N`` … ``.1``)."""
    folder, name = os.path.split(path)
    pattern = re.compile(re.escape(name) + r"\.(\d+)")
    try:
        entries = os.listdir(folder or ".")
    except FileNotFoundError:
        return []
    found = sorted(
        ((int(m.group(1)), e) for e in entries if (m := pattern.fullmatch(e))), reverse=True
    )
    return [os.path.join(folder, e) for _, e in found]


def rotate(path: str, max_file: int) -> None:
    """Blocking: shift ``path.1`` … up and rename ``path`` to ``path.1``; keep
    ``max_file - 1`` rotated files."""
    for old in rotated_files(path):
        n = int(old.rsplit(".", 1)[1])
        if n >= max_file - 1:
            os.unlink(old)
        else:
            os.replace(old, f"{path}.{n + 1}")
    if max_file > 1:
        os.replace(path, f"{path}.1")
