"""Build routes: ``POST /build`` (the classic builder), ``/build/prune``, ``/build/cancel``.

The query is parsed into :class:`~berthd.builder.options.BuildOptions` (dockerd's
wording for what it refuses), then one backend call returns the JSON stream.
Its first chunk is awaited before the headers go out: the context upload, the
Dockerfile lookup and parse happen before it, so their failures are plain HTTP
errors; everything later travels in the stream as ``errorDetail``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Protocol

from aiohttp import web

from berthd.api.httputil import api_version, json_response, query_bool, version_less
from berthd.api.routes import Route
from berthd.builder.options import (
    BuildOptions,
    Query,
    parse_build_options,
    parse_registry_config,
)
from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs

__all__ = ["BuildBackend", "BuildRouter", "ByteSource"]

_CLIENT_CHECK_SECONDS = 1.0


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


async def _next(chunks: AsyncIterator[bytes], request: web.Request) -> bytes | None:
    """The next chunk; a client that has gone away cancels the build (a RUN step
    may write nothing for minutes, so the connection is watched, not just written)."""
    pending = asyncio.ensure_future(chunks.__anext__())
    while True:
        done, _ = await asyncio.wait({pending}, timeout=_CLIENT_CHECK_SECONDS)
        if done:
            try:
                return pending.result()
            except StopAsyncIteration:
                return None
        transport = request.transport
        if transport is None or transport.is_closing():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
            raise ConnectionResetError("the client went away")


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
        opts.registry_auth = parse_registry_config(request.headers.get("X-Registry-Config", ""))
        version = api_version(request)
        opts.aux = not version_less(version, "1.30")
        if version_less(version, "1.32"):
            opts.platform = ""
        chunks = self.backend.build(opts, request.content, request.query.get("buildid", ""))
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            first = await _next(chunks, request)
            await resp.prepare(request)
            try:
                if first is not None:
                    await resp.write(first)
                while (chunk := await _next(chunks, request)) is not None:
                    await resp.write(chunk)
                await resp.write_eof()
            except ConnectionResetError:
                pass  # the client went away: the build was cancelled, nobody to tell
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
