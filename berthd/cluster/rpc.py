"""The managers' swarm port (2377 by default): where a joining node presents its token.

HTTPS with the manager's node certificate (``berthd.cluster.tls``). Two calls, as
SwarmKit's join does it: ``GET /berthd/v1/ca`` answers the root CA's certificate to
anyone (it is public; ``fetch_ca`` takes it without verifying, since the joiner has no
trust root yet), and the joiner checks it against the digest its token pins; then
``POST /berthd/v1/join`` (JSON) over a connection that trusts that CA only, so a
manager that cannot show a certificate of the pinned CA never sees the token. The token
is the credential; the answer carries the joiner's signed node certificate.
``JoinListener`` serves them with a handler of the daemon's; a handler's ``RpcError``
is answered as ``{"message": ...}`` with its status, which ``call_join`` raises again
on the joining side with the same words.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    import ssl

    from aiohttp import web

__all__ = [
    "CA_PATH",
    "JOIN_PATH",
    "LOGS_PATH",
    "JoinListener",
    "RpcError",
    "call_join",
    "call_renew",
    "fetch_ca",
    "stream_logs",
]

JOIN_PATH = "/berthd/v1/join"
CA_PATH = "/berthd/v1/ca"
LOGS_PATH = "/berthd/v1/logs"
RENEW_PATH = "/berthd/v1/renew"
NOT_A_MANAGER_NODE = "this node is not a manager: join through a manager"

log = logging.getLogger("berthd.cluster")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
# a task container's log as multiplexed frames: (container ID, options) → chunks
LogsHandler = Callable[[str, dict[str, Any]], Awaitable[AsyncIterator[bytes]]]
# a node renewing its certificate: (the CN of the certificate it holds, request) → answer
RenewHandler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


def _peer(request: web.Request, field: str) -> str:
    """A subject field of the client's certificate (verified against the swarm's CA by
    the TLS layer), "" without one."""
    cert = request.transport.get_extra_info("peercert") if request.transport else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == field:
                return str(value)
    return ""


def _peer_role(request: web.Request) -> str:
    return _peer(request, "organizationalUnitName")


class RpcError(Exception):
    """A call refused (``status`` 4xx: the caller's fault) or failed (5xx, or the manager
    could not be reached: ``status`` 0)."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class JoinListener:
    """An HTTPS server on ``host:port`` (``ssl_context``: the node's certificate)
    answering the join call with ``handler`` (a manager's; None on a worker), the CA
    call with ``ca_pem`` and, for managers only (the OU of a client certificate of the
    swarm's CA), a task container's log with ``logs``."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler | None,
        ssl_context: ssl.SSLContext | None = None,
        ca_pem: str = "",
        logs: LogsHandler | None = None,
        renew: RenewHandler | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self.ssl_context = ssl_context
        self._ca = ca_pem
        self._logs = logs
        self._renew = renew
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen (OSError when the address cannot be bound)."""
        from aiohttp import web

        app = web.Application(client_max_size=1 << 20)
        app.router.add_post(JOIN_PATH, self._join)
        app.router.add_get(CA_PATH, self._root_ca)
        app.router.add_post(LOGS_PATH, self._task_logs)
        app.router.add_post(RENEW_PATH, self._renew_cert)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(
            runner, self.host, self.port, reuse_address=True, ssl_context=self.ssl_context
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        log.info("swarm: listening for joins on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _root_ca(self, request: web.Request) -> web.Response:
        from aiohttp import web

        return web.Response(text=self._ca, content_type="application/x-pem-file")

    async def _task_logs(self, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        if self._logs is None or _peer_role(request) != "swarm-manager":
            return web.json_response({"message": "a manager's certificate is needed"}, status=403)
        try:
            body = orjson.loads(await request.read())
            if not isinstance(body, dict):
                raise ValueError
            chunks = await self._logs(str(body["ContainerID"]), dict(body.get("Options") or {}))
        except (ValueError, KeyError, TypeError):
            return web.json_response({"message": "a bad logs request"}, status=400)
        except RpcError as e:
            return web.json_response({"message": e.message}, status=e.status or 500)
        resp = web.StreamResponse()
        resp.content_type = "application/vnd.docker.multiplexed-stream"
        await resp.prepare(request)
        async for chunk in chunks:
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def _renew_cert(self, request: web.Request) -> web.Response:
        from aiohttp import web

        cn = _peer(request, "commonName")
        if not cn:
            return web.json_response({"message": "a node certificate is needed"}, status=403)
        renew = self._renew
        if renew is None:
            return web.json_response({"message": NOT_A_MANAGER_NODE}, status=503)
        return await self._json(request, lambda body: renew(cn, body))

    async def _join(self, request: web.Request) -> web.Response:
        from aiohttp import web

        if self._handler is None:
            return web.json_response({"message": NOT_A_MANAGER_NODE}, status=503)
        return await self._json(request, self._handler)

    @staticmethod
    async def _json(request: web.Request, handler: Handler) -> web.Response:
        from aiohttp import web

        try:
            body = orjson.loads(await request.read())
            if not isinstance(body, dict):
                raise RpcError("the request must be a JSON object", 400)
            out = await handler(body)
        except orjson.JSONDecodeError:
            return web.json_response({"message": "the request is not JSON"}, status=400)
        except RpcError as e:
            return web.json_response({"message": e.message}, status=e.status or 500)
        except Exception as e:
            log.exception("swarm request %s failed", request.path)
            return web.json_response({"message": str(e)}, status=500)
        return web.Response(body=orjson.dumps(out), content_type="application/json")


def _scheme(ssl_context: ssl.SSLContext | bool | None) -> str:
    return "http" if ssl_context is None else "https"


async def fetch_ca(addr: str, timeout: float = 20.0) -> str:
    """The root CA certificate the manager at ``addr`` serves (unverified: check it
    against the token's digest before trusting it)."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False
            ) as http,
            http.get(f"https://{addr}{CA_PATH}", ssl=False) as resp,
        ):
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise RpcError(f"cannot reach the manager at {addr}: {e}", 0) from e
    text = raw.decode(errors="replace")
    if status != 200 or "-----BEGIN CERTIFICATE-----" not in text:
        raise RpcError(f"the manager at {addr} sent no root CA (HTTP {status})", 502)
    return text


async def call_join(
    addr: str,
    body: dict[str, Any],
    timeout: float = 60.0,
    ssl_context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """The join call to the manager at ``addr`` (``host:port``), over TLS trusting
    ``ssl_context``'s CA (plain HTTP without one: tests of the handler only)."""
    return await _call(addr, JOIN_PATH, body, timeout, ssl_context)


async def call_renew(
    addr: str, body: dict[str, Any], ssl_context: ssl.SSLContext, timeout: float = 30.0
) -> dict[str, Any]:
    """A node's certificate renewal at the manager at ``addr``, presenting the node's
    present certificate (``ssl_context``)."""
    return await _call(addr, RENEW_PATH, body, timeout, ssl_context)


async def _call(
    addr: str,
    path: str,
    body: dict[str, Any],
    timeout: float,
    ssl_context: ssl.SSLContext | None,
) -> dict[str, Any]:
    import aiohttp

    url = f"{_scheme(ssl_context)}://{addr}{path}"
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False
            ) as http,
            http.post(
                url, data=orjson.dumps(body), ssl=ssl_context if ssl_context else True
            ) as resp,
        ):
            raw = await resp.read()
            status = resp.status
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise RpcError(f"cannot reach the manager at {addr}: {e}", 0) from e
    try:
        out = orjson.loads(raw)
    except orjson.JSONDecodeError:
        out = None
    if not isinstance(out, dict):
        raise RpcError(f"the manager at {addr} answered HTTP {status}: {raw[:200]!r}", status)
    if status != 200:
        raise RpcError(str(out.get("message") or f"HTTP {status}"), status)
    return out


async def stream_logs(
    addr: str, body: dict[str, Any], ssl_context: ssl.SSLContext
) -> AsyncIterator[bytes]:
    """A task container's log from the node at ``addr`` (its frames, as they come;
    RpcError when the node cannot be reached or refuses)."""
    import aiohttp

    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10), trust_env=False
            ) as http,
            http.post(
                f"https://{addr}{LOGS_PATH}", data=orjson.dumps(body), ssl=ssl_context
            ) as resp,
        ):
            if resp.status != 200:
                raw = await resp.read()
                raise RpcError(f"logs from {addr}: HTTP {resp.status} {raw[:200]!r}", resp.status)
            async for chunk in resp.content.iter_any():
                yield chunk
    except (aiohttp.ClientError, TimeoutError, OSError) as e:
        raise RpcError(f"cannot reach the node at {addr}: {e}", 0) from e
