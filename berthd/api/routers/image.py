"""Image routes: load, save, import and pull (create), push, list, inspect, history, tag, rmi, prune.

``handler → one backend call → response``. Streaming verbs return async byte iterators;
the handler pulls the first chunk *before* sending headers, so a failure that happens
before any output (no such image, bad reference) is an ordinary HTTP error, as dockerd's
``WriteFlusher.Flushed()`` check makes it; after that, JSON streams carry the error as a
final ``{"error": …}`` line and tar streams are cut short. ``docker load`` is the
exception: dockerd always answers 200 and reports every failure in the stream.

Image names may contain slashes (``localhost:5000/a/b``), so the ``{name}`` routes match
greedily and are registered after the fixed paths, like dockerd's ``{name:.*}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

import orjson
from aiohttp import web

from berthd.api.httputil import api_version, json_response, query_bool, version_less
from berthd.api.routes import Route
from berthd.errdefs import BerthdError
from berthd.lib.filters import FilterArgs
from berthd.registry.useragent import user_agent

__all__ = ["AUTH_HEADER", "ByteSource", "ImageRouter", "ImagesBackend", "meta_headers"]

log = logging.getLogger(__name__)


class ByteSource(Protocol):
    """The request body as the backend reads it (aiohttp's ``request.content``)."""

    async def read(self, n: int = -1) -> bytes: ...


class ImagesBackend(Protocol):
    def load_images(self, body: ByteSource, quiet: bool) -> AsyncIterator[bytes]: ...

    async def check_save(self, names: list[str]) -> None:
        """Resolve every name (NotFound before the tar starts)."""

    def save_images(self, names: list[str]) -> AsyncIterator[bytes]: ...

    def import_image(
        self, src: str, body: ByteSource, repo: str, tag: str, message: str, changes: list[str]
    ) -> AsyncIterator[bytes]: ...

    def pull_image(
        self,
        image: str,
        tag: str,
        platform: str,
        auth_header: str | None,
        meta_headers: Mapping[str, str],
    ) -> AsyncIterator[bytes]: ...

    def push_image(
        self,
        name: str,
        tag: str,
        auth_header: str | None,
        auth_body: bytes,
        meta_headers: Mapping[str, str],
    ) -> AsyncIterator[bytes]: ...

    async def list_images(
        self, filters: FilterArgs, all_images: bool, shared_size: bool
    ) -> list[dict[str, Any]]: ...

    async def inspect_image(self, name: str) -> dict[str, Any]: ...

    async def image_history(self, name: str) -> list[dict[str, Any]]: ...

    async def tag_image(self, name: str, repo: str, tag: str) -> None: ...

    async def delete_image(self, name: str, force: bool, prune: bool) -> list[dict[str, Any]]: ...

    async def prune_images(self, filters: FilterArgs) -> dict[str, Any]: ...


AUTH_HEADER = "X-Registry-Auth"


def meta_headers(request: web.Request) -> dict[str, str]:
    """``X-Meta-*`` request headers, forwarded to the registry as dockerd does, plus the
    daemon's User-Agent naming the client's (``UpstreamClient(…)``)."""
    headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-meta-")}
    headers["User-Agent"] = user_agent(request.headers.get("User-Agent", ""))
    return headers


def _error_line(message: str) -> bytes:
    """streamformatter.FormatError."""
    return orjson.dumps({"errorDetail": {"message": message}, "error": message}) + b"\n"


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        await aclose()


_WATCH = 1.0  # seconds between checks that a silent stream's client is still there


async def _next(request: web.Request, chunks: AsyncIterator[bytes]) -> bytes | None:
    """The next chunk (None at the end); ConnectionResetError once the client is gone.

    A pull waiting for a download slot writes nothing for a while: dockerd cancels it as
    soon as its client hangs up, so the connection is watched while the stream is silent.
    """
    nxt = asyncio.ensure_future(chunks.__anext__())
    try:
        while True:
            done, _ = await asyncio.wait({nxt}, timeout=_WATCH)
            if done:
                try:
                    return nxt.result()
                except StopAsyncIteration:
                    return None
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ConnectionResetError("the client went away")
    finally:
        if not nxt.done():
            nxt.cancel()
            await asyncio.gather(nxt, return_exceptions=True)


async def _stream(
    request: web.Request, chunks: AsyncIterator[bytes], content_type: str, json_errors: bool
) -> web.StreamResponse:
    """Send ``chunks``; an error before the first chunk propagates (unless in-band)."""
    resp = web.StreamResponse(headers={"Content-Type": content_type})
    try:
        try:
            first = await _next(request, chunks)
        except (ConnectionResetError, ConnectionError):
            raise
        except Exception as err:
            if not json_errors:
                raise
            await resp.prepare(request)
            await resp.write(_error_line(_message(err)))
            return resp
        await resp.prepare(request)
        if first is not None:
            await resp.write(first)
        try:
            while (chunk := await _next(request, chunks)) is not None:
                await resp.write(chunk)
        except (ConnectionResetError, ConnectionError):
            raise
        except Exception as err:
            if not json_errors:
                raise  # a truncated tar: the client sees the connection end early
            await resp.write(_error_line(_message(err)))
        await resp.write_eof()
    finally:
        await _close(chunks)
    return resp


def _message(err: Exception) -> str:
    if not isinstance(err, BerthdError):
        log.exception("image stream failed", exc_info=err)
    return str(err)


class ImageRouter:
    def __init__(self, backend: ImagesBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        name = "/images/{name:.+}"
        return [
            Route("POST", "/images/load", self.post_load),
            Route("GET", "/images/get", self.get_save),
            Route("POST", "/images/create", self.post_create),
            Route("GET", "/images/json", self.get_list),
            Route("POST", "/images/prune", self.post_prune),
            Route("GET", name + "/get", self.get_save_one),
            Route("GET", name + "/json", self.get_inspect),
            Route("GET", name + "/history", self.get_history),
            Route("POST", name + "/tag", self.post_tag),
            Route("POST", name + "/push", self.post_push),
            Route("DELETE", name, self.delete_image),
        ]

    async def post_load(self, request: web.Request) -> web.StreamResponse:
        quiet = query_bool(request, "quiet", True)
        chunks = self.backend.load_images(request.content, quiet)
        return await _stream(request, chunks, "application/json", json_errors=True)

    async def _save(self, request: web.Request, names: list[str]) -> web.StreamResponse:
        await self.backend.check_save(names)
        chunks = self.backend.save_images(names)
        return await _stream(request, chunks, "application/x-tar", json_errors=False)

    async def get_save(self, request: web.Request) -> web.StreamResponse:
        return await self._save(request, request.query.getall("names", []))

    async def get_save_one(self, request: web.Request) -> web.StreamResponse:
        return await self._save(request, [request.match_info["name"]])

    async def post_create(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        image = q.get("fromImage", "")
        if image:
            platform = (
                q.get("platform", "") if not version_less(api_version(request), "1.32") else ""
            )
            chunks = self.backend.pull_image(
                image,
                q.get("tag", ""),
                platform,
                request.headers.get(AUTH_HEADER),
                meta_headers(request),
            )
        else:
            chunks = self.backend.import_image(
                q.get("fromSrc", ""),
                request.content,
                q.get("repo", ""),
                q.get("tag", ""),
                q.get("message", ""),
                q.getall("changes", []),
            )
        return await _stream(request, chunks, "application/json", json_errors=False)

    async def post_push(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get(AUTH_HEADER)
        body = b"" if header else await request.read()
        chunks = self.backend.push_image(
            request.match_info["name"],
            request.query.get("tag", ""),
            header,
            body,
            meta_headers(request),
        )
        return await _stream(request, chunks, "application/json", json_errors=False)

    async def get_list(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        if "filter" in request.query:  # API < 1.41: a reference pattern
            names = filters.keys()
            fields = {k: filters.get(k) for k in names}
            filters = FilterArgs({**fields, "reference": [request.query["filter"]]})
        rows = await self.backend.list_images(
            filters, query_bool(request, "all"), query_bool(request, "shared-size")
        )
        version = api_version(request)
        for row in rows:
            if version_less(version, "1.43") and not row["RepoTags"] and not row["RepoDigests"]:
                row["RepoTags"], row["RepoDigests"] = ["<none>:<none>"], ["<none>@<none>"]
            if version_less(version, "1.44"):
                row["VirtualSize"] = row["Size"]
        return json_response(rows)

    async def get_inspect(self, request: web.Request) -> web.StreamResponse:
        doc = await self.backend.inspect_image(request.match_info["name"])
        version = api_version(request)
        # dockerd 26 (API 1.45) dropped Container/ContainerConfig; berthd keeps them at
        # every version: docker-compose 1.x (Debian's) negotiates 1.45 and then fails
        # on `KeyError: 'ContainerConfig'` when it recreates a service (compose#11742).
        if version_less(version, "1.44"):
            doc["VirtualSize"] = doc["Size"]
        return json_response(doc)

    async def get_history(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.backend.image_history(request.match_info["name"]))

    async def post_tag(self, request: web.Request) -> web.StreamResponse:
        await self.backend.tag_image(
            request.match_info["name"], request.query.get("repo", ""), request.query.get("tag", "")
        )
        return web.Response(status=201)

    async def delete_image(self, request: web.Request) -> web.StreamResponse:
        items = await self.backend.delete_image(
            request.match_info["name"],
            query_bool(request, "force"),
            not query_bool(request, "noprune"),
        )
        return json_response(items)

    async def post_prune(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        return json_response(await self.backend.prune_images(filters))
