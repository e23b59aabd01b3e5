"""The HTTP client under the registry code: one pooled aiohttp session per service.

Connections are kept alive and pooled per (host, port, TLS settings) by the session's
connector (dockerd opens a new connection per request). Timeouts: TCP connect 30 s, the
whole connection set-up (connect + TLS handshake) 40 s, and ``read_timeout`` (60 s by
default, ``--registry-read-timeout``; 0 = none) of silence on any read, headers or body: dockerd has none there, which is why
its pulls can hang at "Downloading" forever. Redirects are followed by hand (up to 10) so
that credentials are added per hop: only to the registry's own host, never to a storage
host a blob is redirected to. Transport failures become ``TransportError`` with Go's
``<Method> "<url>": <why>`` wording.

This module imports aiohttp: the registry service imports it on first use only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import ssl
import urllib.request
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from yarl import URL

from berthd.registry.errors import AuthorizeError, NoBasicAuthCredentials, NoToken, TransportError
from berthd.registry.tls import ssl_context

__all__ = ["HTTPClient", "Authorize", "MAX_REDIRECTS"]

MAX_REDIRECTS = 10
CONNECT_TIMEOUT = 30.0
HANDSHAKE_TIMEOUT = 10.0
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

# headers → URL → the Authorization (and friends) to add for that URL
Authorize = Callable[[URL], Awaitable[Mapping[str, str]]]


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def proxy_for(url: URL) -> str | None:
    """Go's ProxyFromEnvironment: HTTP(S)_PROXY unless NO_PROXY; never for loopback."""
    host = url.host or ""
    if _is_loopback(host):
        return None
    proxies = urllib.request.getproxies_environment()
    bypass = getattr(urllib.request, "proxy_bypass_environment", None)
    if proxies.get("no") and bypass is not None and bypass(host, proxies):
        return None
    return proxies.get(url.scheme) or None


def _why(exc: BaseException, url: URL) -> str:
    """Go-like text for a failed request."""
    hostport = f"{url.host}:{url.port}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        detail = str(exc.certificate_error)
        if (
            "unable to get local issuer" in detail
            or "self-signed" in detail
            or "self signed" in detail
        ):
            return (
                "tls: failed to verify certificate: x509: certificate signed by unknown authority"
            )
        if "hostname mismatch" in detail or "IP address mismatch" in detail:
            return (
                f"tls: failed to verify certificate: x509: certificate is not valid for {url.host}"
            )
        return f"tls: failed to verify certificate: {detail}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        detail = str(exc)
        if (
            "WRONG_VERSION_NUMBER" in detail
            or "wrong version number" in detail
            or "record layer failure" in detail
        ):
            return "http: server gave HTTP response to HTTPS client"
        return f"tls: {detail}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        os_err = exc.os_error
        if isinstance(os_err, ConnectionRefusedError):
            return f"dial tcp {hostport}: connect: connection refused"
        if isinstance(os_err, TimeoutError | asyncio.TimeoutError):
            return f"dial tcp {hostport}: i/o timeout"
        return f"dial tcp {hostport}: {os_err.strerror or os_err}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"dial tcp {hostport}: i/o timeout"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "net/http: request canceled (Client.Timeout exceeded while awaiting headers)"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "EOF"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "unexpected EOF"
    if isinstance(exc, aiohttp.ClientOSError):
        return exc.strerror or str(exc)
    return str(exc) or type(exc).__name__


def _dir_stamp(path: str) -> tuple[object, ...]:
    """What identifies a certs.d directory's content: names, sizes and mtimes."""
    try:
        names = sorted(os.listdir(path))
    except OSError:
        return ()
    out: list[object] = []
    for name in names:
        try:
            st = os.stat(os.path.join(path, name))
        except OSError:
            continue
        out.append((name, st.st_size, st.st_mtime_ns))
    return tuple(out)


def transport_error(method: str, url: URL, exc: BaseException) -> TransportError:
    return TransportError(method, str(url), _why(exc, url))


class HTTPClient:
    """The pooled session and the TLS contexts of one registry service."""

    def __init__(self, read_timeout: float) -> None:
        self.read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None
        self._ssl: dict[tuple[bool, str], tuple[tuple[object, ...], ssl.SSLContext]] = {}
        self._lock = asyncio.Lock()

    async def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=64, keepalive_timeout=30.0)
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
                timeout=self.timeout(),
            )
        return self._session

    def timeout(
        self, total: float | None = None, read: float | None = None
    ) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=total,
            connect=CONNECT_TIMEOUT + HANDSHAKE_TIMEOUT,
            sock_connect=CONNECT_TIMEOUT,
            sock_read=(read if read is not None else self.read_timeout) or None,
        )

    async def ssl_for(self, verify: bool, certs_dir: str) -> ssl.SSLContext:
        """The context for an endpoint; rebuilt when its certs.d directory changes."""
        stamp = await asyncio.to_thread(_dir_stamp, certs_dir) if verify and certs_dir else ()
        key = (verify, certs_dir)
        cached = self._ssl.get(key)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        async with self._lock:
            cached = self._ssl.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            ctx = await asyncio.to_thread(ssl_context, verify, certs_dir)
            self._ssl[key] = (stamp, ctx)
            return ctx

    def forget_tls(self) -> None:
        """Drop cached TLS contexts (certs.d is re-read on the next connection)."""
        self._ssl.clear()

    async def send(
        self,
        method: str,
        url: URL,
        *,
        headers: Mapping[str, str],
        authorize: Authorize | None = None,
        data: Any = None,
        ssl_ctx: ssl.SSLContext | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
        follow: bool = True,
        chunked: bool | None = None,
    ) -> aiohttp.ClientResponse:
        """One request, following redirects by hand; the caller releases the answer."""
        session = await self.session()
        hops = 0
        first_url = url
        while True:
            hop_headers = dict(headers)
            if authorize is not None:
                try:
                    hop_headers.update(await authorize(url))
                except (NoBasicAuthCredentials, NoToken) as e:
                    raise AuthorizeError(method, str(url), e) from e
            # A pooled connection the server closed while idle fails at once on reuse:
            # a GET or HEAD is sent again, once, on a fresh connection.
            for attempt in (0, 1):
                try:
                    resp = await session.request(
                        method,
                        url,
                        headers=hop_headers,
                        data=data,
                        allow_redirects=False,
                        ssl=ssl_ctx if url.scheme == "https" and ssl_ctx is not None else True,
                        proxy=proxy_for(url),
                        timeout=timeout or self.timeout(),
                        chunked=chunked,
                    )
                    break
                except aiohttp.ServerDisconnectedError as e:
                    if attempt == 0 and data is None and method in ("GET", "HEAD"):
                        continue
                    raise transport_error(method, url, e) from e
                except (aiohttp.ClientError, TimeoutError, ssl.SSLError, OSError) as e:
                    raise transport_error(method, url, e) from e
            if not follow or resp.status not in REDIRECT_STATUSES or "Location" not in resp.headers:
                return resp
            keeps_body = resp.status in (307, 308) or (
                resp.status in (301, 302) and method in ("GET", "HEAD")
            )
            if data is not None and keeps_body:
                return resp  # a streamed body cannot be sent twice: the caller sees the 3xx
            location = resp.headers["Location"]
            resp.release()
            hops += 1
            if hops >= MAX_REDIRECTS:
                raise TransportError(
                    method, str(first_url), f"stopped after {MAX_REDIRECTS} redirects"
                )
            url = url.join(URL(location))
            if not keeps_body:
                method, data = "GET", None

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None


class BodyTooLarge(Exception):
    """A body longer than the caller's limit."""


async def read_body(resp: aiohttp.ClientResponse, method: str, limit: int) -> bytes:
    """The whole body, at most ``limit`` bytes (BodyTooLarge past it)."""
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            chunk = await resp.content.read(1 << 16)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(size)
            chunks.append(chunk)
    except BodyTooLarge:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise transport_error(method, resp.url, e) from e
    return b"".join(chunks)
