"""Routes on a container's file system: ``docker cp`` archives, ``commit``, ``container prune``.

moby ``api/server/router/container/copy.go`` and the commit/prune handlers.
The path's stat travels in the ``X-Docker-Container-Path-Stat`` header (base64
JSON), set before any byte of the archive, so the client can decide how to
unpack before reading the body. Archives are gzip- or deflate-compressed when
the client accepts it, as dockerd's ``writeCompressedResponse`` does.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from aiohttp import web
from aiohttp.web import ContentCoding

from berthd.api.httputil import json_response, query_bool, read_json
from berthd.api.routes import Route
from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs

__all__ = ["STAT_HEADER", "ContainerFSBackend", "ContainerFSRouter", "encode_stat"]

log = logging.getLogger(__name__)

STAT_HEADER = "X-Docker-Container-Path-Stat"
_CHUNK = 1 << 16


class ContainerFSBackend(Protocol):
    async def stat_path(self, name: str, path: str) -> dict[str, Any]: ...
    async def archive_path(
        self, name: str, path: str
    ) -> tuple[dict[str, Any], AsyncIterator[bytes]]: ...
    async def extract_to_dir(
        self,
        name: str,
        path: str,
        body: AsyncIterator[bytes],
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> None: ...
    async def commit(
        self,
        container: str,
        repo: str,
        tag: str,
        comment: str,
        author: str,
        pause: bool,
        changes: list[str],
        config: object,
    ) -> str: ...
    async def prune(self, filters: FilterArgs) -> dict[str, Any]: ...


def encode_stat(st: dict[str, Any]) -> str:
    """base64 of the stat's JSON, fields in Go's ``ContainerPathStat`` order."""
    doc = {k: st.get(k) for k in ("name", "size", "mode", "mtime", "linkTarget")}
    return base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()


def _archive_args(request: web.Request) -> tuple[str, str]:
    """dockerd's ``ArchiveFormValues`` (its message lacks a space; kept)."""
    name = request.match_info["name"]
    path = request.query.get("path", "")
    if path == "":
        raise InvalidParameter("bad parameter: pathcannot be empty")
    return name, path


def _coding(request: web.Request) -> ContentCoding | None:
    accepted = [
        part.split(";")[0].strip().lower()
        for part in request.headers.get("Accept-Encoding", "").split(",")
    ]
    if "gzip" in accepted:
        return ContentCoding.gzip
    if "deflate" in accepted:
        return ContentCoding.deflate
    return None


class ContainerFSRouter:
    def __init__(self, backend: ContainerFSBackend) -> None:
        self.b = backend

    def routes(self) -> list[Route]:
        return [
            Route("HEAD", "/containers/{name}/archive", self.head_archive),
            Route("GET", "/containers/{name}/archive", self.get_archive),
            Route("PUT", "/containers/{name}/archive", self.put_archive),
            Route("POST", "/commit", self.post_commit),
            Route("POST", "/containers/prune", self.post_prune),
        ]

    async def head_archive(self, request: web.Request) -> web.StreamResponse:
        name, path = _archive_args(request)
        st = await self.b.stat_path(name, path)
        return web.Response(headers={STAT_HEADER: encode_stat(st)})

    async def get_archive(self, request: web.Request) -> web.StreamResponse:
        name, path = _archive_args(request)
        st, chunks = await self.b.archive_path(name, path)
        try:
            resp = web.StreamResponse(
                headers={STAT_HEADER: encode_stat(st), "Content-Type": "application/x-tar"}
            )
            coding = _coding(request)
            if coding is not None:
                resp.enable_compression(coding)
            await resp.prepare(request)
            try:
                async for chunk in chunks:
                    await resp.write(chunk)
                await resp.write_eof()
            except ConnectionError:
                log.debug("the client left during an archive of %s", path)
        finally:
            close = getattr(chunks, "aclose", None)
            if close is not None:
                await close()
        return resp

    async def put_archive(self, request: web.Request) -> web.StreamResponse:
        name, path = _archive_args(request)

        async def body() -> AsyncIterator[bytes]:
            async for chunk in request.content.iter_chunked(_CHUNK):
                yield chunk

        await self.b.extract_to_dir(
            name,
            path,
            body(),
            no_overwrite_dir_non_dir=query_bool(request, "noOverwriteDirNonDir"),
            copy_uid_gid=query_bool(request, "copyUIDGID"),
        )
        return web.Response()

    async def post_commit(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        config = await read_json(request, required=False)
        # pause defaults to true (API >= 1.13) when absent or empty
        pause = True if q.get("pause", "") == "" else query_bool(request, "pause")
        image_id = await self.b.commit(
            q.get("container", ""),
            q.get("repo", ""),
            q.get("tag", ""),
            q.get("comment", ""),
            q.get("author", ""),
            pause,
            q.getall("changes", []),
            config,
        )
        return json_response({"Id": image_id}, status=201)

    async def post_prune(self, request: web.Request) -> web.StreamResponse:
        filters = FilterArgs.from_json(request.query.get("filters"))
        return json_response(await self.b.prune(filters))
