"""Resolve what a client typed (name, name:tag, name@digest, ID, ID prefix) to an image.

dockerd's ``ImageService.GetImage``: the reference store first, then an ID-prefix search,
and one error wording for every miss ("No such image: busybox:latest"), which docker-py
maps to ``ImageNotFound``.
"""

from __future__ import annotations

from berthd import errdefs
from berthd.image.reference import DigestReference, parse_any_reference
from berthd.image.reference_store import ReferenceStore
from berthd.image.store import Image, ImageStore

__all__ = ["get_image", "no_such_image"]


def no_such_image(ref_or_id: str) -> errdefs.NotFound:
    """``ErrImageDoesNotExist``: named references are shown with their default tag."""
    try:
        ref = parse_any_reference(ref_or_id)
    except errdefs.InvalidParameter:
        return errdefs.NotFound(f"No such image: {ref_or_id}")
    if isinstance(ref, DigestReference):
        return errdefs.NotFound(f"No such image: {ref.digest}")
    return errdefs.NotFound(f"No such image: {ref.tag_name_only().familiar_string()}")


def get_image(images: ImageStore, references: ReferenceStore, ref_or_id: str) -> Image:
    """The image ``ref_or_id`` designates; InvalidParameter for a malformed reference."""
    ref = parse_any_reference(ref_or_id)
    if isinstance(ref, DigestReference):
        if images.exists(ref.digest):
            return images.get(ref.digest)
        raise no_such_image(ref_or_id)
    try:
        image_id = references.get(ref)
    except errdefs.NotFound:
        image_id = ""
    if image_id and images.exists(image_id):
        return images.get(image_id)
    try:
        return images.get(images.search(ref_or_id))
    except errdefs.NotFound:
        raise no_such_image(ref_or_id) from None
