"""``docker image prune``: which images go, via the same delete rules as ``docker rmi``.

moby ``daemon/images/image_prune.go``: by default only dangling images (no tag); with
``dangling=false`` every image no container uses. Intermediate images without tags are
left to the parent pruning of their children's deletes. Conflicts (an image in use) are
skipped silently; ``until`` and ``label``/``label!`` narrow the candidates.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from berthd import errdefs
from berthd.image.delete import DeleteItem, ImageDeleter
from berthd.image.digest import digest_hex
from berthd.image.filters import invalid_filter, match_kv_list, parse_timestamp_ns, validate_filters
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import ImageStore

__all__ = ["PRUNE_FILTERS", "ImagePruner", "PruneReport"]

log = logging.getLogger(__name__)

PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})


@dataclass(slots=True)
class PruneReport:
    """``ImagesPruneReport``: ``ImagesDeleted`` and ``SpaceReclaimed``."""

    images_deleted: list[DeleteItem] = field(default_factory=list)
    space_reclaimed: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "ImagesDeleted": [i.to_json() for i in self.images_deleted] or None,
            "SpaceReclaimed": self.space_reclaimed,
        }


class ImagePruner:
    def __init__(
        self, images: ImageStore, references: ReferenceStore, deleter: ImageDeleter
    ) -> None:
        self._images = images
        self._refs = references
        self._deleter = deleter

    def prune(
        self,
        filters: Mapping[str, Sequence[str]],
        layer_sizes: Mapping[str, int],
        now_ns: int | None = None,
    ) -> PruneReport:
        """Prune; ``layer_sizes`` (chain ID → diff size, taken before) sizes the report."""
        validate_filters(filters, PRUNE_FILTERS)
        dangling_only = True
        if "dangling" in filters:
            values = list(filters["dangling"])
            if "false" in values or "0" in values:
                dangling_only = False
            elif "true" not in values and "1" not in values:
                raise invalid_filter("dangling", values)
        until_ns = 0
        for value in filters.get("until", ()):
            until_ns = parse_timestamp_ns(value, now_ns)

        candidates = self._images.heads() if dangling_only else self._images.map()
        top: list[str] = []
        for image_id, img in candidates.items():
            refs = self._refs.references(image_id)
            if not refs and self._images.children(image_id):
                continue
            created = img.config.created_ns()
            if until_ns and (not created or created > until_ns):
                continue
            labels = img.config.labels()
            if not match_kv_list(filters.get("label", ()), labels):
                continue
            if "label!" in filters and match_kv_list(filters["label!"], labels):
                continue
            top.append(image_id)

        report = PruneReport()
        for image_id in top:
            refs = self._refs.references(image_id)
            if refs:
                should_delete = not dangling_only or not any(r.is_tagged for r in refs)
                if should_delete:
                    for ref in refs:
                        report.images_deleted.extend(self._try_delete(str(ref)))
            else:
                report.images_deleted.extend(self._try_delete(digest_hex(image_id)))
        for item in report.images_deleted:
            if item.deleted:
                report.space_reclaimed += layer_sizes.get(item.deleted, 0)
        return report

    def _try_delete(self, ref: str) -> list[DeleteItem]:
        try:
            return self._deleter.delete(ref, force=False, prune=True)
        except errdefs.Conflict:
            return []
        except errdefs.BerthdError as err:
            log.warning("failed to prune image %s: %s", ref, err)
            return []
