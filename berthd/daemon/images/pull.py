"""``POST /images/create?fromImage=``: ``docker pull``.

The request is checked before anything is sent (a bad reference or platform is a 400,
``scratch`` a 403, as dockerd's router does), then ``berthd.distribution`` pulls while
its messages stream to the client. After a pull with ``platform`` a single-arch image
that does not match is kept with dockerd's warning; the ``image pull`` event carries
the image's labels and its familiar name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING

from berthd import errdefs
from berthd.distribution import platforms as plat
from berthd.distribution.progress import Output, Progress
from berthd.distribution.pull import Puller, PullRequest
from berthd.image.digest import parse_digest
from berthd.image.reference import Reference, parse_normalized_named
from berthd.registry.auth_config import AuthConfig

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext, PullTransfer

__all__ = ["parse_pull_reference", "pull_image"]


def parse_pull_reference(image: str, tag: str) -> Reference:
    """moby ``postImagesCreate``: ``fromImage`` (one trailing ``:`` trimmed) + ``tag``."""
    name = image[:-1] if image.endswith(":") else image
    ref = parse_normalized_named(name)
    if tag:
        try:
            dgst = parse_digest(tag)
        except ValueError:
            ref = ref.with_tag(tag)
        else:
            ref = ref.trim().with_digest(dgst)
    if ref.familiar_name() == "scratch":
        raise errdefs.Forbidden("'scratch' is a reserved name")
    return ref


def _labels(svc: ImageContext, image_id: str) -> dict[str, str]:
    try:
        return dict(svc.images.get(image_id).config.labels())
    except errdefs.BerthdError:
        return {}


def _platform_warning(svc: ImageContext, ref: Reference, want: plat.Platform) -> str | None:
    try:
        image_id = svc.references.get(ref)
        cfg = svc.images.get(image_id).config
    except errdefs.BerthdError:
        return None
    actual = plat.Platform(cfg.os, cfg.architecture, cfg.variant)
    if plat.matches(want, actual):
        return None
    return (
        f"WARNING: image with reference {ref} was found but does not match the specified"
        f" platform: wanted {want.format()}, actual: {actual.format()}"
    )


async def pull_image(
    svc: ImageContext,
    transfer: PullTransfer,
    ref: Reference,
    platform: plat.Platform | None,
    auth: AuthConfig,
    headers: Mapping[str, str],
    out: Output,
) -> None:
    req = PullRequest(ref, platform, auth, headers)
    puller = Puller(transfer.registry, transfer.downloads, transfer.stores, req, out)
    await puller.pull()
    if platform is not None and not ref.is_name_only:
        warning = await asyncio.to_thread(_platform_warning, svc, ref, platform)
        if warning:
            out(Progress(message=warning))
    attrs = _labels(svc, puller.pulled_ids[-1]) if puller.pulled_ids else {}
    attrs["name"] = ref.familiar_name()
    svc.emit("image", "pull", ref.familiar_string(), attrs)
