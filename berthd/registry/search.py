"""``GET /images/search`` through an index's v1 search API (moby ``registry/search.go``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, TypedDict

from berthd import errdefs
from berthd.registry.auth_config import AuthConfig

if TYPE_CHECKING:
    from berthd.registry.service import RegistryService

__all__ = ["SearchResult", "search"]


class SearchResult(TypedDict):
    star_count: int
    is_official: bool
    name: str
    is_automated: bool
    description: str


async def search(
    svc: RegistryService,
    term: str,
    limit: int,
    cfg: AuthConfig,
    headers: Mapping[str, str],
    filters: Mapping[str, Sequence[str]],
) -> list[SearchResult]:
    raise errdefs.NotImplemented_("search is not implemented yet")
