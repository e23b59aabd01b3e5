"""What the container verbs need from outside the container package.

The image service resolves a reference to an image (its ID, its config, the
chain ID of its top layer); it is written against this Protocol so the
container code never depends on how images are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from berthd.image.spec import Config

__all__ = ["ImageLookup", "ResolvedImage"]


@dataclass(frozen=True)
class ResolvedImage:
    id: str  # "sha256:…"
    config: Config  # the image config's "config" section (Env, Cmd, …)
    chain_id: str | None  # top layer; None for an image without layers


class ImageLookup(Protocol):
    def resolve_image(self, ref: str) -> ResolvedImage:
        """Raise errdefs.NotFound("No such image: <ref>") when there is none."""
        ...

    def image_in_use(self, image_id: str) -> None:
        """Note that a container was created from ``image_id`` (for rmi checks)."""
        ...

    def image_children(self, image_id: str) -> list[str]:
        """IDs of the images whose parent is ``image_id`` (``ps --filter ancestor``)."""
        ...
