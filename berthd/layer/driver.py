"""What the layer store needs from a graph driver.

A driver owns the bytes of layers under ``<data-root>/<name>/`` and knows
nothing of chain IDs: it stores directories by *cache ID* (random, as
dockerd's) with a parent cache ID. The store keeps the mapping in layerdb.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from berthd.lib.archive import ApplyResult, Change, ReadStream

__all__ = ["Driver"]


class Driver(Protocol):
    """moby's graphdriver (ProtoDriver + DiffDriver), blocking methods."""

    name: str
    root: str

    def create_from_tar(
        self, cache_id: str, parent: str | None, source: ReadStream, split_path: str | None
    ) -> ApplyResult:
        """Unpack a layer tar on top of ``parent`` as the new layer ``cache_id``.

        All-or-nothing: until it returns, the layer exists only under a
        temporary name that startup garbage collection removes.
        """

    def create_rw(self, cache_id: str, parent: str | None) -> None:
        """An empty writable layer on top of ``parent`` (init and container layers).

        Visible atomically, but not necessarily flushed: the caller fsyncs
        ``durable_paths`` before anything durable refers to it."""

    def durable_paths(self, cache_id: str) -> list[str]:
        """What to fsync (all at once) to make a ``create_rw`` layer durable."""

    def remove(self, cache_id: str) -> None:
        """Delete the layer; unmounts it first if needed."""

    def get(self, cache_id: str) -> str:
        """Make the layer's merged view available; return its path (ref-counted)."""

    def put(self, cache_id: str) -> None:
        """Release one ``get``; the last one unmounts."""

    def mount_count(self, cache_id: str) -> int:
        """How many ``get`` calls are not yet ``put``."""

    def exists(self, cache_id: str) -> bool: ...

    def ids(self) -> list[str]:
        """Every layer directory the driver holds (for garbage collection)."""

    def remove_temporaries(self) -> None:
        """Delete half-made layers a crash left behind."""

    def diff_dir(self, cache_id: str) -> str:
        """Where the files this layer's tar carried are (for tar-split reassembly)."""

    def changes(self, cache_id: str, parent: str | None) -> list[Change]:
        """What this layer changed relative to ``parent`` (``docker diff``)."""

    def diff_size(self, cache_id: str, parent: str | None) -> int:
        """Bytes this layer adds or changes (a container's ``SizeRw``)."""

    def diff(self, cache_id: str, parent: str | None) -> Iterator[bytes]:
        """This layer's changes as a layer tar (whiteouts as ``.wh.`` entries)."""

    def cleanup(self) -> None:
        """Unmount everything this driver mounted (daemon shutdown)."""
