"""Volume routes: create, list, inspect, remove, prune (and swarm's update, refused).

``handler → one backend call → response``; the backend is whatever object the
composition root passes in that satisfies ``VolumeBackend``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web

from berthd.api import schemas
from berthd.api.httputil import api_version, json_response, query_bool, read_json, version_less
from berthd.api.routes import Route
from berthd.errdefs import InvalidParameter, Unavailable
from berthd.lib.filters import FilterArgs

__all__ = ["VolumeBackend", "VolumeRouter"]

# API 1.42 made prune remove only anonymous volumes unless asked for "all".
PRUNE_ALL_VERSION = "1.42"


class VolumeBackend(Protocol):
    async def create(
        self,
        name: str,
        driver: str = "",
        opts: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]: ...

    async def inspect(self, name: str) -> dict[str, Any]: ...

    async def list_volumes(self, filters: FilterArgs) -> dict[str, Any]: ...

    async def remove(self, name: str, force: bool = False) -> None: ...

    async def prune(self, filters: FilterArgs) -> dict[str, Any]: ...


def _string_map(body: Mapping[str, Any], key: str) -> dict[str, str] | None:
    """A ``map[string]string`` field: null/absent → None; anything else is refused."""
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise InvalidParameter(
            f"invalid JSON: json: cannot unmarshal {type(value).__name__} into Go struct "
            f"field CreateOptions.{key} of type map[string]string"
        )
    return {str(k): v for k, v in value.items()}


def _string(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(
            f"invalid JSON: json: cannot unmarshal {type(value).__name__} into Go struct "
            f"field CreateOptions.{key} of type string"
        )
    return value


class VolumeRouter:
    def __init__(self, backend: VolumeBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/volumes", self.get_volumes),
            Route("GET", "/volumes/{name}", self.get_volume),
            Route("POST", "/volumes/create", self.post_create),
            Route("POST", "/volumes/prune", self.post_prune),
            Route("PUT", "/volumes/{name}", self.put_volume),
            Route("DELETE", "/volumes/{name}", self.delete_volume),
        ]

    async def get_volumes(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        return json_response(await self.backend.list_volumes(filters))

    async def get_volume(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.backend.inspect(request.match_info["name"]))

    async def post_create(self, request: web.Request) -> web.StreamResponse:
        body = await read_json(request, schema=schemas.VOLUME_CREATE)
        if not isinstance(body, dict):  # null
            body = {}
        vol = await self.backend.create(
            _string(body, "Name"),
            _string(body, "Driver"),
            _string_map(body, "DriverOpts"),
            _string_map(body, "Labels"),
        )
        return json_response(vol, status=201)

    async def put_volume(self, request: web.Request) -> web.StreamResponse:
        raise Unavailable("volume update only valid for cluster volumes, but swarm is unavailable")

    async def delete_volume(self, request: web.Request) -> web.StreamResponse:
        await self.backend.remove(request.match_info["name"], query_bool(request, "force"))
        return web.Response(status=204)

    async def post_prune(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        if version_less(api_version(request), PRUNE_ALL_VERSION):
            keys = filters.keys()  # FilterArgs is not iterable
            fields = {k: filters.get(k) for k in keys}
            fields["all"] = [*fields.get("all", []), "true"]
            filters = FilterArgs(fields)
        return json_response(await self.backend.prune(filters))
