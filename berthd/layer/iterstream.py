"""Adapt an iterator of byte chunks to a ``read(n)`` stream.

Lets a tar we generate (a container's diff) feed ``register`` directly, with
no temp file and no extra thread: ``commit`` is one synchronous pipeline.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["IterStream"]


class IterStream:
    """``read(n)`` over an iterator of ``bytes`` chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""
        self._done = False

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            rest = [self._buf, *self._chunks]
            self._buf = b""
            self._done = True
            return b"".join(rest)
        while len(self._buf) < n and not self._done:
            try:
                self._buf += next(self._chunks)
            except StopIteration:
                self._done = True
        data, self._buf = self._buf[:n], self._buf[n:]
        return data
