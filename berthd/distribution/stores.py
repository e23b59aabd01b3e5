"""The local stores pull and push work on, and a repository shared by transfers."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from berthd.distribution.remote import Repository
from berthd.image.distribution_metadata import DistributionMetadataStore
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore
from berthd.layer import LayerStore

__all__ = ["SharedRepository", "Stores"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stores:
    images: ImageStore
    references: ReferenceStore
    layers: LayerStore
    metadata: DistributionMetadataStore
    tmp_dir: str


class SharedRepository:
    """Closes the repository when its last user (the pull, or a transfer another pull
    still watches) lets go."""

    def __init__(self, repo: Repository) -> None:
        self.repo = repo
        self._users = 1

    def acquire(self) -> None:
        self._users += 1

    async def release(self) -> None:
        """Let go; the last user closes the repository here, awaited (its connections
        are gone when this returns)."""
        self._users -= 1
        if self._users == 0:
            try:
                await self.repo.close()
            except Exception as err:  # the transfer's own outcome is what counts
                log.debug("closing a registry repository failed: %s", err)
