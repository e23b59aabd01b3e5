"""``POST /images/{name}/push``: ``docker push``.

Credentials: ``X-Registry-Auth`` when present (decoded leniently, as dockerd), else the
body must be an AuthConfig (``bad parameters and missing X-Registry-Auth: …``). The
HMAC key of those credentials tags the v2metadata the push records.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from berthd import errdefs
from berthd.distribution.progress import Output
from berthd.distribution.push import Pusher, PushRequest
from berthd.image.lookup import get_image
from berthd.image.reference import Reference, parse_normalized_named, repo_tag_reference
from berthd.registry.auth_config import (
    AuthConfig,
    auth_hmac_key,
    decode_auth_body,
    decode_auth_header,
)

if TYPE_CHECKING:
    from berthd.daemon.images.context import ImageContext, PushTransfer

__all__ = ["parse_push_auth", "parse_push_reference", "push_image"]


def parse_push_reference(name: str, tag: str) -> Reference:
    if tag:
        ref = repo_tag_reference(name, tag)
        assert ref is not None
        return ref
    return parse_normalized_named(name)


def parse_push_auth(header: str | None, body: bytes) -> AuthConfig:
    if header:
        return decode_auth_header(header)
    try:
        return decode_auth_body(body)
    except errdefs.InvalidParameter as err:
        raise errdefs.InvalidParameter(
            f"bad parameters and missing X-Registry-Auth: {err}"
        ) from None


async def push_image(
    svc: ImageContext,
    transfer: PushTransfer,
    ref: Reference,
    auth: AuthConfig,
    headers: Mapping[str, str],
    out: Output,
) -> None:
    req = PushRequest(
        ref,
        auth,
        hmac_key=auth_hmac_key(auth),
        has_auth_info=bool(auth.registrytoken or (auth.username and auth.password)),
        headers=headers,
    )
    await Pusher(transfer.registry, transfer.uploads, transfer.stores, req, out).push()
    attrs: dict[str, str] = {}
    try:
        attrs.update(get_image(svc.images, svc.references, ref.familiar_string()).config.labels())
    except errdefs.BerthdError:
        pass
    attrs["name"] = ref.familiar_name()
    svc.emit("image", "push", ref.familiar_string(), attrs)
