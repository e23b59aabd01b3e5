"""One repository on one registry endpoint: the registry HTTP API v2 client.

A ``Repository`` is (endpoint, repository path, credentials, scopes) with its challenges
and token cache; the connections are the service's pooled session. See the table in
``docs/architecture.md`` ("Registry client") for the requests and answers it expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp
import orjson
from yarl import URL

from berthd import errdefs
from berthd.registry.authorizer import AUTH_TIMEOUT, Authorizer, repository_scope
from berthd.registry.endpoints import Endpoint
from berthd.registry.errors import (
    BlobUnknown,
    ManifestTooLarge,
    TransportError,
    error_from_response,
)
from berthd.registry.transport import BodyTooLarge, HTTPClient, read_body, transport_error

__all__ = [
    "MANIFEST_MEDIA_TYPES",
    "MAX_MANIFEST_SIZE",
    "BlobReader",
    "Descriptor",
    "Repository",
    "Upload",
]

log = logging.getLogger("berthd.registry")

# What moby's client accepts for manifests (distribution's registered types). Sending
# the whole list matters: distribution 2.8 answers an OCI-only Accept for a schema2
# manifest with 400 MANIFEST_INVALID.
MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/json",
)
ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)
MAX_MANIFEST_SIZE = 4 * 1024 * 1024
# a commit (PUT …&digest=) may take long on a registry that moves the blob into place
COMMIT_READ_TIMEOUT = 600.0


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    urls: tuple[str, ...] = ()
    platform: Mapping[str, object] | None = None


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _content_length(resp: aiohttp.ClientResponse) -> int | None:
    value = resp.headers.get("Content-Length")
    if value is None or not value.isdigit():
        return None
    return int(value)


async def _error(resp: aiohttp.ClientResponse, method: str) -> errdefs.BerthdError:
    try:
        body = b"" if method == "HEAD" else await read_body(resp, method, 1 << 20)
    except BodyTooLarge:
        body = b""
    return error_from_response(
        resp.status, resp.reason or "", body, resp.headers.getall("WWW-Authenticate", [])
    )


class BlobReader:
    """A blob's body being read; every read waits at most the idle timeout."""

    def __init__(self, resp: aiohttp.ClientResponse, offset: int) -> None:
        self._resp = resp
        self.resumed = resp.status == 206
        length = _content_length(resp)
        self.total: int | None = (
            None if length is None else length + (offset if self.resumed else 0)
        )

    async def read(self, n: int = 1 << 20) -> bytes:
        try:
            return await self._resp.content.read(n)
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise TransportError(
                "GET", str(self._resp.url), "read: no data received within the idle timeout"
            ) from None
        except (aiohttp.ClientError, OSError) as e:
            raise transport_error("GET", self._resp.url, e) from e

    async def close(self) -> None:
        self._resp.release()
        self._resp.close()


class Upload:
    """An upload session: data streams in one chunked PATCH, then a PUT commits it."""

    def __init__(self, repo: Repository, location: URL) -> None:
        self._repo = repo
        self.location = location
        self.size = 0
        self._queue: asyncio.Queue[bytes | None] | None = None
        self._task: asyncio.Task[URL] | None = None

    async def _body(self, queue: asyncio.Queue[bytes | None]) -> AsyncIterator[bytes]:
        while True:
            chunk = await queue.get()
            if chunk is None:
                return
            yield chunk

    async def _patch(self, queue: asyncio.Queue[bytes | None]) -> URL:
        resp = await self._repo.send(
            "PATCH",
            self.location,
            headers={"Content-Type": "application/octet-stream"},
            data=self._body(queue),
            chunked=True,
            read_timeout=COMMIT_READ_TIMEOUT,
        )
        async with resp:
            if resp.status != 202:
                raise await _error(resp, "PATCH")
            loc = resp.headers.get("Location")
            return self.location.join(URL(loc)) if loc else self.location

    async def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=4)
            self._task = asyncio.create_task(self._patch(self._queue))
        assert self._task is not None
        put = asyncio.ensure_future(self._queue.put(chunk))
        done, _ = await asyncio.wait({put, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if put not in done:
            put.cancel()
            # the PATCH ended before taking all the data: its error, or a short upload
            self._task.result()
            raise errdefs.System("blob upload: the registry closed the upload early")
        self.size += len(chunk)

    async def commit(self, digest: str) -> Descriptor:
        if self._task is not None and self._queue is not None:
            await self._queue.put(None)
            self.location = await self._task
            self._task = None
        url = self.location.update_query({"digest": digest})
        resp = await self._repo.send(
            "PUT", url, headers={"Content-Length": "0"}, data=b"", read_timeout=COMMIT_READ_TIMEOUT
        )
        async with resp:
            if resp.status not in (201, 204):
                raise await _error(resp, "PUT")
            got = resp.headers.get("Docker-Content-Digest") or digest
        return Descriptor("application/octet-stream", got, self.size)

    async def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        with contextlib.suppress(errdefs.BerthdError):
            resp = await self._repo.send("DELETE", self.location, headers={})
            resp.release()


class Repository:
    """The v2 API of one repository (``path`` like ``library/busybox``) on one endpoint."""

    def __init__(
        self,
        client: HTTPClient,
        endpoint: Endpoint,
        path: str,
        authorizer: Authorizer,
        headers: Mapping[str, str],
        ssl_ctx: ssl.SSLContext | None,
    ) -> None:
        self.client = client
        self.endpoint = endpoint
        self.path = path
        self.auth = authorizer
        self.headers = dict(headers)
        self.ssl_ctx = ssl_ctx
        self._pinged = False
        self._ping_lock = asyncio.Lock()
        self.base = URL(endpoint.v2_url)

    def _url(self, suffix: str) -> URL:
        return URL(str(self.base) + quote(self.path, safe="/") + "/" + suffix, encoded=True)

    async def ping(self) -> int:
        """``GET /v2/``: records the challenges; the status (200, 401, …) is returned."""
        url = self.base
        resp = await self.client.send(
            "GET",
            url,
            headers=self.headers,
            ssl_ctx=self.ssl_ctx,
            timeout=self.client.timeout(total=AUTH_TIMEOUT),
        )
        async with resp:
            self.auth.add_response(
                resp.url, resp.status, resp.headers.getall("WWW-Authenticate", [])
            )
            self._pinged = True
            return resp.status

    async def _ensure_ping(self) -> None:
        if self._pinged:
            return
        async with self._ping_lock:
            if not self._pinged:
                await self.ping()

    async def send(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str],
        data: object = None,
        extra_scopes: Sequence[str] = (),
        read_timeout: float | None = None,
        chunked: bool | None = None,
        total_timeout: float | None = None,
    ) -> aiohttp.ClientResponse:
        """One authorized request under this endpoint (pinged first); the caller releases it."""
        await self._ensure_ping()

        async def authorize(hop: URL) -> Mapping[str, str]:
            return await self.auth.authorize(hop, extra_scopes)

        return await self.client.send(
            method,
            url,
            headers={**self.headers, **headers},
            authorize=authorize,
            data=data,
            ssl_ctx=self.ssl_ctx,
            timeout=self.client.timeout(total=total_timeout, read=read_timeout),
            chunked=chunked,
        )

    # -- manifests ---------------------------------------------------------------
    async def resolve(self, tag: str) -> Descriptor:
        """A tag's (or digest's) descriptor: HEAD, and GET when HEAD gives no digest."""
        url = self._url(f"manifests/{tag}")
        resp = await self.send("HEAD", url, headers={"Accept": ACCEPT})
        async with resp:
            digest = resp.headers.get("Docker-Content-Digest", "")
            if 200 <= resp.status < 400 and digest:
                return Descriptor(
                    _media_type(resp.headers.get("Content-Type", "")),
                    digest,
                    _content_length(resp) or 0,
                )
        body, media_type, digest = await self.get_manifest(tag)
        return Descriptor(
            media_type, digest or "sha256:" + hashlib.sha256(body).hexdigest(), len(body)
        )

    async def get_manifest(self, ref: str) -> tuple[bytes, str, str]:
        """(raw body, media type, Docker-Content-Digest or ""); more than 4 MiB is refused."""
        url = self._url(f"manifests/{ref}")
        resp = await self.send("GET", url, headers={"Accept": ACCEPT})
        async with resp:
            if not 200 <= resp.status < 300:
                raise await _error(resp, "GET")
            length = _content_length(resp)
            if length is not None and length > MAX_MANIFEST_SIZE:
                raise ManifestTooLarge(
                    f"manifest size of {length} exceeds the limit of {MAX_MANIFEST_SIZE} bytes"
                )
            try:
                body = await read_body(resp, "GET", MAX_MANIFEST_SIZE)
            except BodyTooLarge:
                raise ManifestTooLarge(
                    f"manifest exceeds the limit of {MAX_MANIFEST_SIZE} bytes"
                ) from None
            return (
                body,
                _media_type(resp.headers.get("Content-Type", "")),
                resp.headers.get("Docker-Content-Digest", ""),
            )

    async def put_manifest(self, tag_or_digest: str, media_type: str, body: bytes) -> str:
        url = self._url(f"manifests/{tag_or_digest}")
        resp = await self.send("PUT", url, headers={"Content-Type": media_type}, data=body)
        async with resp:
            if not 200 <= resp.status < 300:
                raise await _error(resp, "PUT")
            return (
                resp.headers.get("Docker-Content-Digest")
                or "sha256:" + hashlib.sha256(body).hexdigest()
            )

    async def tags(self) -> list[str]:
        out: list[str] = []
        url: URL | None = self._url("tags/list")
        while url is not None:
            resp = await self.send("GET", url, headers={})
            async with resp:
                if resp.status != 200:
                    raise await _error(resp, "GET")
                try:
                    body = await read_body(resp, "GET", 16 << 20)
                except BodyTooLarge:
                    raise errdefs.System("tags list too large") from None
                link = resp.headers.get("Link", "")
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as e:
                raise errdefs.System(f"invalid tags list: {e}") from None
            tags = data.get("tags") if isinstance(data, dict) else None
            out.extend(t for t in tags or [] if isinstance(t, str))
            url = _next_link(url, link)
        return out

    # -- blobs -------------------------------------------------------------------
    async def stat_blob(self, digest: str) -> Descriptor | None:
        resp = await self.send("HEAD", self._url(f"blobs/{digest}"), headers={})
        async with resp:
            if resp.status == 404:
                return None
            if not 200 <= resp.status < 300:
                raise await _error(resp, "HEAD")
            return Descriptor(
                resp.headers.get("Content-Type", "application/octet-stream"),
                resp.headers.get("Docker-Content-Digest", digest),
                _content_length(resp) or 0,
            )

    async def open_blob(self, digest: str, offset: int = 0) -> BlobReader:
        headers = {"Range": f"bytes={offset}-"} if offset > 0 else {}
        resp = await self.send("GET", self._url(f"blobs/{digest}"), headers=headers)
        if resp.status == 404:
            resp.release()
            raise BlobUnknown()
        if resp.status not in (200, 206):
            try:
                raise await _error(resp, "GET")
            finally:
                resp.release()
        return BlobReader(resp, offset)

    async def get_blob(self, digest: str, limit: int) -> bytes:
        reader = await self.open_blob(digest)
        try:
            if reader.total is not None and reader.total > limit:
                raise errdefs.System(f"blob {digest} is larger than {limit} bytes")
            chunks: list[bytes] = []
            size = 0
            while True:
                chunk = await reader.read()
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise errdefs.System(f"blob {digest} is larger than {limit} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            await reader.close()

    async def _post_upload(
        self, query: Mapping[str, str], extra_scopes: Sequence[str]
    ) -> tuple[int, URL]:
        url = (
            self._url("blobs/uploads/").with_query(dict(query))
            if query
            else self._url("blobs/uploads/")
        )
        resp = await self.send(
            "POST", url, headers={"Content-Length": "0"}, data=b"", extra_scopes=extra_scopes
        )
        async with resp:
            if resp.status not in (201, 202):
                raise await _error(resp, "POST")
            loc = resp.headers.get("Location", "")
            return resp.status, url.join(URL(loc)) if loc else url

    async def start_upload(self) -> Upload:
        _, location = await self._post_upload({}, ())
        return Upload(self, location)

    async def mount_blob(self, digest: str, source_path: str) -> Upload | None:
        """Cross-repository mount: None when mounted (201), else the upload session (202)."""
        status, location = await self._post_upload(
            {"mount": digest, "from": source_path}, (repository_scope(source_path, ("pull",)),)
        )
        if status == 201:
            return None
        return Upload(self, location)

    async def close(self) -> None:
        """Nothing of its own to free: the connections belong to the service's pool."""


def _next_link(current: URL, link: str) -> URL | None:
    """The ``<…>; rel="next"`` target of a Link header."""
    for part in link.split(","):
        part = part.strip()
        if 'rel="next"' in part and part.startswith("<") and ">" in part:
            return current.join(URL(part[1 : part.index(">")]))
    return None
