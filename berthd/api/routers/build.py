"""Build routes: ``POST /build`` (the classic builder), ``/build/prune``, ``/build/cancel``.

The query is parsed into :class:`~berthd.builder.options.BuildOptions` (dockerd's
wording for what it refuses), then one backend call returns the JSON stream.
Its first chunk is awaited before the headers go out: the context upload, the
Dockerfile lookup and parse happen before it, so their failures are plain HTTP
errors; everything later travels in the stream as ``errorDetail``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web

from berthd.api.httputil import json_response, query_bool
from berthd.api.routes import Route
from berthd.builder.options import BuildOptions, Query, parse_build_options
from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs

__all__ = ["BuildBackend", "BuildRouter", "ByteSource"]


class ByteSource(Protocol):
    async def read(self, n: int = -1) -> bytes: ...


class BuildBackend(Protocol):
    def build(self, opts: BuildOptions, body: ByteSource, build_id: str) -> AsyncIterator[bytes]:
        """An async generator: context + parse happen before its first chunk."""
        ...

    async def prune(
        self, all_: bool, filters: FilterArgs, keep_storage: int
    ) -> dict[str, object]: ...

    async def cancel(self, build_id: str) -> None: ...


class BuildRouter:
    def __init__(self, backend: BuildBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        return [
            Route("POST", "/build", self.post_build),
            Route("POST", "/build/prune", self.post_prune),
            Route("POST", "/build/cancel", self.post_cancel),
        ]

    async def post_build(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        opts = parse_build_options(Query({k: q.getall(k) for k in q}))
        chunks = self.backend.build(opts, request.content, request.query.get("buildid", ""))
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            try:
                first: bytes | None = await chunks.__anext__()
            except StopAsyncIteration:
                first = None
            await resp.prepare(request)
            if first is not None:
                await resp.write(first)
            async for chunk in chunks:
                await resp.write(chunk)
            await resp.write_eof()
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        return resp

    async def post_prune(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        raw = request.query.get("keep-storage", "") or "0"
        try:
            keep = int(raw)
        except ValueError:
            raise InvalidParameter(
                f"keep-storage is in bytes and expects an integer, got {raw}: "
                f'strconv.Atoi: parsing "{raw}": invalid syntax'
            ) from None
        report = await self.backend.prune(query_bool(request, "all"), filters, keep)
        return json_response(report)

    async def post_cancel(self, request: web.Request) -> web.StreamResponse:
        build_id = request.query.get("id", "")
        if not build_id:
            raise InvalidParameter("build ID not provided")
        await self.backend.cancel(build_id)
        return web.Response(status=200, content_type="application/json")
