"""The managers' swarm port (2377 by default): where a joining node presents its token.

Phase 1 serves one call, ``POST /berthd/v1/join``, as JSON over plain HTTP (a
deliberate first step: mTLS with the swarm's root CA is the goal; the token is the
credential, and the joiner checks the root CA it is sent against the digest in its
token). ``JoinListener`` serves it with a handler of the daemon's; a handler's
``RpcError`` is answered as ``{"message": ...}`` with its status, which
``call_join`` raises again on the joining side with the same words.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["JOIN_PATH", "JoinListener", "RpcError", "call_join"]

JOIN_PATH = "/berthd/v1/join"

log = logging.getLogger("berthd.cluster")

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class RpcError(Exception):
    """A call refused (``status`` 4xx: the caller's fault) or failed (5xx, or the manager
    could not be reached: ``status`` 0)."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class JoinListener:
    """An HTTP server on ``host:port`` answering the join call with ``handler``."""

    def __init__(self, host: str, port: int, handler: Handler) -> None:
        self.host = host
        self.port = port
        self._handler = handler
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        """Listen (OSError when the address cannot be bound)."""
        from aiohttp import web

        app = web.Application(client_max_size=1 << 20)
        app.router.add_post(JOIN_PATH, self._join)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
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

    async def _join(self, request: web.Request) -> web.Response:
        from aiohttp import web

        try:
            body = orjson.loads(await request.read())
            if not isinstance(body, dict):
                raise RpcError("the join request must be a JSON object", 400)
            out = await self._handler(body)
        except orjson.JSONDecodeError:
            return web.json_response({"message": "the join request is not JSON"}, status=400)
        except RpcError as e:
            return web.json_response({"message": e.message}, status=e.status or 500)
        except Exception as e:
            log.exception("swarm join request failed")
            return web.json_response({"message": str(e)}, status=500)
        return web.Response(body=orjson.dumps(out), content_type="application/json")


async def call_join(addr: str, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """The join call to the manager at ``addr`` (``host:port``)."""
    import aiohttp

    url = f"http://{addr}{JOIN_PATH}"
    try:
        async with (
            aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), trust_env=False
            ) as http,
            http.post(url, data=orjson.dumps(body)) as resp,
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
