"""``GET /images/get``: ``docker save`` of one or several images to a tar stream.

``berthd.image.tarexport_save`` writes the archive; the output is a blocking sink that
hands chunks to the response as they are produced (see ``bridge``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from berthd.image.tarexport_save import ImageSaver

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["check_names", "save_images"]


def _saver(svc: ImageContext) -> ImageSaver:
    return ImageSaver(
        svc.images, svc.references, svc.layers, tmp_dir=svc.tmp_dir, on_event=svc.image_event
    )


def check_names(svc: ImageContext, names: list[str]) -> None:
    """Resolve every name first so a typo is a 404, not a broken tar stream."""
    _saver(svc).parse_names(names)


def save_images(svc: ImageContext, names: list[str], out: BinaryIO) -> None:
    _saver(svc).save(names, out)
