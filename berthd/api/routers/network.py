"""Network routes: list, inspect, create, remove, prune, connect, disconnect.

``handler → one backend call → response``; the daemon's NetworksService
satisfies ``NetworkBackend``.
"""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from berthd.api import schemas
from berthd.api.decode import Struct
from berthd.api.httputil import json_response, read_json
from berthd.api.routes import Route
from berthd.lib.filters import FilterArgs

__all__ = ["NetworkBackend", "NetworkRouter"]


class NetworkBackend(Protocol):
    async def list_networks(self, filters: FilterArgs) -> list[dict[str, Any]]: ...

    async def inspect(self, ref: str) -> dict[str, Any]: ...

    async def create(self, body: dict[str, Any]) -> dict[str, Any]: ...

    async def remove(self, ref: str) -> None: ...

    async def prune(self, filters: FilterArgs) -> dict[str, Any]: ...

    async def connect(self, ref: str, body: dict[str, Any]) -> None: ...

    async def disconnect(self, ref: str, body: dict[str, Any]) -> None: ...


async def _body(request: web.Request, schema: Struct) -> dict[str, Any]:
    body = await read_json(request, schema=schema)
    return body if isinstance(body, dict) else {}


class NetworkRouter:
    def __init__(self, backend: NetworkBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/networks", self.get_networks),
            # a network's name may hold a "/" (moby routes "{id:.+}")
            Route("GET", "/networks/{id:.+}", self.get_network),
            Route("POST", "/networks/create", self.post_create),
            Route("POST", "/networks/prune", self.post_prune),
            Route("POST", "/networks/{id:.+}/connect", self.post_connect),
            Route("POST", "/networks/{id:.+}/disconnect", self.post_disconnect),
            Route("DELETE", "/networks/{id:.+}", self.delete_network),
        ]

    async def get_networks(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        return json_response(await self.backend.list_networks(filters))

    async def get_network(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.backend.inspect(request.match_info["id"]))

    async def post_create(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request, schemas.NETWORK_CREATE)
        return json_response(await self.backend.create(body), status=201)

    async def post_prune(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        return json_response(await self.backend.prune(filters))

    async def post_connect(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request, schemas.NETWORK_CONNECT)
        await self.backend.connect(request.match_info["id"], body)
        return web.Response(status=200)

    async def post_disconnect(self, request: web.Request) -> web.StreamResponse:
        body = await _body(request, schemas.NETWORK_DISCONNECT)
        await self.backend.disconnect(request.match_info["id"], body)
        return web.Response(status=200)

    async def delete_network(self, request: web.Request) -> web.StreamResponse:
        await self.backend.remove(request.match_info["id"])
        return web.Response(status=204)
