"""What the image package needs from the layer store, as ``typing.Protocol`` classes.

The layer store (``berthd.layer``) sits below the image package and is written
separately; the image code never imports it, and ``daemon/assemble.py`` plugs the real
one in. The shapes are structural so ``berthd.layer.store.LayerStore`` satisfies them
as is (a unit test checks that with mypy). Semantics follow moby's ``layer.Store``:
layers are keyed by chain ID and reference-counted; ``register`` and ``get`` each hand
out one reference, ``release`` drops one and returns the layers actually removed (for
``docker rmi``'s "Deleted:" lines).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

__all__ = ["LayerGetReleaser", "LayerInfo", "LayerStore", "ReadStream"]


class LayerInfo(Protocol):
    """One layer as the image code sees it (read-only attributes)."""

    @property
    def chain_id(self) -> str:
        """sha256:… of the whole stack up to and including this layer."""
        ...

    @property
    def diff_id(self) -> str:
        """sha256:… of this layer's uncompressed tar."""
        ...

    @property
    def size(self) -> int:
        """Bytes of content in this layer alone."""
        ...


class ReadStream(Protocol):
    """The least a layer source must offer."""

    def read(self, n: int = -1, /) -> bytes: ...


class LayerGetReleaser(Protocol):
    """The part the image store needs: hold one reference per stored image."""

    def get(self, chain_id: str) -> LayerInfo:
        """Take a reference on a layer; raise ``errdefs.NotFound`` if unknown."""
        ...

    def release(self, chain_id: str) -> Sequence[LayerInfo]:
        """Drop one reference; return the layers that were removed (top first)."""
        ...


class LayerStore(LayerGetReleaser, Protocol):
    """The part ``docker load``/``docker save`` need on top of get/release."""

    def lookup(self, chain_id: str) -> LayerInfo:
        """The layer without taking a reference; ``errdefs.NotFound`` if unknown."""
        ...

    def register(self, source: ReadStream, parent: str | None = None) -> LayerInfo:
        """Apply a layer tar on top of ``parent`` (None = base layer).

        The image code hands over an already *uncompressed* tar. Returns the layer with
        one reference taken; identical content already present is returned with a new
        reference. On error nothing is left registered.
        """
        ...

    def tar_stream(self, chain_id: str) -> Iterator[bytes]:
        """Regenerate this layer's exact uncompressed tar (sha256 == its diff ID)."""
        ...
