"""ID prefix lookup (dockerd's truncindex): any unique prefix finds an ID."""

from __future__ import annotations

import bisect
import threading

from berthd.errdefs import InvalidParameter

__all__ = ["AmbiguousPrefix", "TruncIndex"]


class AmbiguousPrefix(InvalidParameter):
    def __init__(self, prefix: str) -> None:
        super().__init__(f"multiple IDs found with provided prefix: {prefix}")


class TruncIndex:
    """Sorted IDs; a prefix lookup is one bisect. Thread-safe."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._lock = threading.Lock()

    def add(self, full_id: str) -> None:
        with self._lock:
            i = bisect.bisect_left(self._ids, full_id)
            if i == len(self._ids) or self._ids[i] != full_id:
                self._ids.insert(i, full_id)

    def delete(self, full_id: str) -> None:
        with self._lock:
            i = bisect.bisect_left(self._ids, full_id)
            if i < len(self._ids) and self._ids[i] == full_id:
                del self._ids[i]

    def get(self, prefix: str) -> str | None:
        """The one ID starting with ``prefix``; None if none; AmbiguousPrefix if several."""
        if not prefix:
            return None
        with self._lock:
            i = bisect.bisect_left(self._ids, prefix)
            if i == len(self._ids) or not self._ids[i].startswith(prefix):
                return None
            if i + 1 < len(self._ids) and self._ids[i + 1].startswith(prefix):
                if self._ids[i] == prefix:
                    return prefix
                raise AmbiguousPrefix(prefix)
            return self._ids[i]

    def __len__(self) -> int:
        return len(self._ids)
