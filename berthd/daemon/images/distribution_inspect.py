"""``GET /distribution/{name}/json``: ``docker manifest inspect``-style lookups.

A full image ID or bare digest names no registry manifest (dockerd's
``no manifest found for full image ID``); anything else is looked up remotely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from berthd import errdefs
from berthd.distribution.inspect import DistributionInspect, inspect_distribution
from berthd.image.reference import DigestReference, parse_any_reference
from berthd.registry.auth_config import decode_auth_header

if TYPE_CHECKING:
    from berthd.distribution.remote import RegistryClient

__all__ = ["distribution_inspect"]


async def distribution_inspect(
    registry: RegistryClient | None,
    name: str,
    auth_header: str | None,
    headers: Mapping[str, str],
) -> DistributionInspect:
    ref = parse_any_reference(name)
    if isinstance(ref, DigestReference):
        raise errdefs.System("no manifest found for full image ID")
    if registry is None:
        raise errdefs.NotImplemented_("no registry client configured")
    return await inspect_distribution(registry, ref, decode_auth_header(auth_header), headers)
