"""What start-up learnt by running a program, kept until the program changes.

The component versions (``conmon --version``...) and the runtime probes (a container
really run by runc and by crun) cost a few processes each, which dockerd does not pay
before it answers. Their results are kept in ``<exec-root>/probes.json``, each under the
program's identity (inode, size, mtime): a program replaced or upgraded is asked again,
and the exec-root does not survive a reboot, so kernel or cgroup changes are seen too.
A missing, unreadable or foreign file is an empty cache; writing it is best effort.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

from berthd.lib.atomicfile import write_atomic

__all__ = ["ProbeCache"]

FILE_NAME = "probes.json"


def _identity(path: str) -> list[int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


class ProbeCache:
    """Blocking file I/O; ``load`` and ``save`` run in a thread at start-up."""

    def __init__(self, exec_root: str) -> None:
        self.path = os.path.join(exec_root, FILE_NAME)
        self._entries: dict[str, Any] = {}
        self._dirty = False

    def load(self) -> ProbeCache:
        try:
            with open(self.path, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError):
            return self
        if isinstance(data, dict):
            self._entries = data
        return self

    def get(self, key: str, program: str) -> dict[str, Any] | None:
        """What was stored under ``key`` while ``program`` was the file it is now."""
        entry = self._entries.get(key)
        ident = _identity(program)
        if not isinstance(entry, dict) or ident is None or entry.get("program") != ident:
            return None
        value = entry.get("value")
        return value if isinstance(value, dict) else None

    def put(self, key: str, program: str, value: dict[str, Any]) -> None:
        ident = _identity(program)
        if ident is not None:
            self._entries[key] = {"program": ident, "value": value}
            self._dirty = True

    def save(self) -> None:
        if self._dirty:
            with contextlib.suppress(OSError):
                write_atomic(self.path, json.dumps(self._entries).encode(), 0o600, sync=False)
            self._dirty = False
