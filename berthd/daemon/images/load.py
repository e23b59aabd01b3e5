"""``POST /images/load``: a ``docker save`` archive or OCI layout into the stores.

The archive parsing, diff-ID checks and tagging are ``berthd.image.tarexport_load``;
this verb only wires it to the daemon's stores, temp dir and event log. The body is a
blocking reader fed from the request (see ``bridge``), so nothing is held in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO

from berthd.image.tarexport_load import ImageLoader, LoadResult, Output

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext

__all__ = ["load_images"]


def load_images(svc: ImageContext, body: BinaryIO, out: Output, quiet: bool) -> LoadResult:
    loader = ImageLoader(
        svc.images, svc.references, svc.layers, tmp_dir=svc.tmp_dir, on_event=svc.image_event
    )
    return loader.load(body, out, quiet)
