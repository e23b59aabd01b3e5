"""What the image package needs from the layer store, as a ``typing.Protocol``.

The layer store (``berthd.layer``) sits below the image package and is written
separately; the image code never imports it. ``daemon/assemble.py`` plugs the real one
in. Semantics follow moby's ``layer.Store``: layers are keyed by chain ID and
reference-counted, ``register`` and ``get`` each hand out one reference, ``release``
drops one and returns the chain IDs actually removed (for ``docker rmi``'s "Deleted:"
lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO, Protocol

__all__ = ["LayerGetReleaser", "LayerInfo", "LayerStore"]


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One layer as the image code sees it."""

    chain_id: str  # sha256:… of the whole stack up to and including this layer
    diff_id: str  # sha256:… of this layer's uncompressed tar
    size: int  # bytes of content in this layer alone


class LayerGetReleaser(Protocol):
    """The part the image store needs: hold one reference per stored image."""

    def get(self, chain_id: str) -> LayerInfo:
        """Take a reference on a layer; raise ``errdefs.NotFound`` if unknown."""
        ...

    def release(self, chain_id: str) -> list[str]:
        """Drop one reference; return the chain IDs of layers that were removed."""
        ...


class LayerStore(LayerGetReleaser, Protocol):
    """The part ``docker load``/``docker save`` need on top of get/release."""

    def has(self, chain_id: str) -> bool:
        """True when the layer exists (no reference taken)."""
        ...

    def register(self, stream: BinaryIO, parent_chain_id: str) -> LayerInfo:
        """Apply an *uncompressed* layer tar on top of ``parent_chain_id`` ("" = base).

        Returns the new layer with one reference taken. If an identical layer already
        exists its existing record is returned (with a new reference). On error nothing
        is left registered.
        """
        ...

    def open_tar(self, chain_id: str) -> BinaryIO:
        """Regenerate this layer's exact uncompressed tar (its diff ID is preserved)."""
        ...
