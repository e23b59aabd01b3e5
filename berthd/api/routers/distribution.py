"""``GET /distribution/{name}/json``: a remote reference's descriptor and platforms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

from aiohttp import web

from berthd.api.httputil import json_response
from berthd.api.routers.image import AUTH_HEADER, meta_headers
from berthd.api.routes import Route

if TYPE_CHECKING:
    from berthd.distribution.inspect import DistributionInspect

__all__ = ["DistributionBackend", "DistributionRouter"]


class DistributionBackend(Protocol):
    async def distribution_inspect(
        self, name: str, auth_header: str | None, meta_headers: Mapping[str, str]
    ) -> DistributionInspect: ...


class DistributionRouter:
    def __init__(self, backend: DistributionBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        return [Route("GET", "/distribution/{name:.+}/json", self.get_inspect)]

    async def get_inspect(self, request: web.Request) -> web.StreamResponse:
        doc = await self.backend.distribution_inspect(
            request.match_info["name"], request.headers.get(AUTH_HEADER), meta_headers(request)
        )
        return json_response(doc)
