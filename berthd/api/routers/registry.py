"""Registry routes: ``POST /auth`` (docker login) and ``GET /images/search``.

Registered before the image routes: ``/images/{name}/…`` would otherwise take
``/images/search`` for an image called "search".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web

from berthd.api.httputil import json_response, read_json
from berthd.api.routes import Route
from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs
from berthd.registry.auth_config import AuthConfig, decode_auth_header
from berthd.registry.search import SearchResult
from berthd.registry.useragent import user_agent

__all__ = ["RegistryBackend", "RegistryRouter"]


class RegistryBackend(Protocol):
    async def auth(self, cfg: AuthConfig, user_agent: str) -> tuple[str, str]: ...

    async def search(
        self,
        term: str,
        limit: int,
        cfg: AuthConfig,
        headers: Mapping[str, str],
        filters: Mapping[str, Sequence[str]] | None = None,
    ) -> list[SearchResult]: ...


def _search_limit(raw: str) -> int:
    if raw == "":
        return 0
    try:
        limit = int(raw)
    except ValueError:
        raise InvalidParameter(
            f'invalid limit specified: strconv.Atoi: parsing "{raw}": invalid syntax'
        ) from None
    if limit < 0:
        raise InvalidParameter("invalid limit specified")
    return limit


class RegistryRouter:
    def __init__(self, backend: RegistryBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/auth", self.post_auth),
            Route("GET", "/images/search", self.get_images_search),
        ]

    async def post_auth(self, request: web.Request) -> web.StreamResponse:
        body: Any = await read_json(request)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise InvalidParameter(
                "json: cannot unmarshal non-object into Go value of type registry.AuthConfig"
            )
        cfg = AuthConfig.from_json(body)
        status, token = await self.backend.auth(
            cfg, user_agent(request.headers.get("User-Agent", ""))
        )
        return json_response({"IdentityToken": token, "Status": status})

    async def get_images_search(self, request: web.Request) -> web.StreamResponse:
        limit = _search_limit(request.query.get("limit", ""))
        filters = FilterArgs.from_json(request.query.get("filters"))
        cfg = decode_auth_header(request.headers.get("X-Registry-Auth"))
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-meta-")}
        headers["User-Agent"] = user_agent(request.headers.get("User-Agent", ""))
        keys: list[str] = filters.keys()
        rows = await self.backend.search(
            request.query.get("term", ""),
            limit,
            cfg,
            headers,
            {k: filters.get(k) for k in keys},
        )
        return json_response(rows)
