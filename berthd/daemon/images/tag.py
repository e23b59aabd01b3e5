"""``POST /images/{name}/tag``: ``docker tag``.

moby ``postImagesTag`` + ``TagImage``: the reference is parsed first (400), then the
image resolved (404), then the tag moved to it (forcibly, as dockerd), its
``LastTagTime`` stamped and a ``tag`` event logged with the new name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from berthd import errdefs
from berthd.image.lookup import get_image
from berthd.image.reference import Reference, repo_tag_reference

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["add_tag", "tag_image"]


def tag_image(svc: ImageContext, name: str, repo: str, tag: str) -> None:
    ref = repo_tag_reference(repo, tag)
    if ref is None:
        raise errdefs.InvalidParameter("repository name must have at least one component")
    if ref.familiar_name() == "sha256":
        raise errdefs.InvalidParameter(
            "refusing to create an ambiguous tag using digest algorithm as name"
        )
    image_id = get_image(svc.images, svc.references, name).id
    add_tag(svc, image_id, ref)


def add_tag(svc: ImageContext, image_id: str, ref: Reference) -> None:
    svc.references.add_tag(ref, image_id, force=True)
    svc.images.set_last_updated(image_id)
    svc.image_event(image_id, "tag", ref.familiar_string())
