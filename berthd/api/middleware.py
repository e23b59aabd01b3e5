"""Request middlewares: errors, API version, CORS and response headers.

Order (outermost first): errors → headers/CORS → version. The error
middleware is outermost so that a version refusal and an unknown route are
JSON errors too.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from berthd.api.errors import status_for
from berthd.api.httputil import API_VERSION_KEY, json_response, version_less
from berthd.errdefs import BerthdError, InvalidParameter

__all__ = ["APIOptions", "cors_headers", "make_header_hook", "make_middlewares"]

log = logging.getLogger("berthd.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CORS_ALLOW_HEADERS = "Origin, X-Requested-With, Content-Type, Accept, X-Registry-Auth"
CORS_ALLOW_METHODS = "HEAD, GET, POST, DELETE, PUT, OPTIONS"


@dataclass(frozen=True)
class APIOptions:
    version: str  # the newest API version served (also the default)
    min_version: str
    server_version: str  # berthd's own version, for the Server header
    cors_header: str = ""  # --api-cors-header; empty = no CORS
    experimental: bool = False


def cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
        "Access-Control-Allow-Methods": CORS_ALLOW_METHODS,
    }


def make_header_hook(
    opts: APIOptions,
) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An ``on_response_prepare`` hook: headers every response carries.

    A signal rather than a middleware, because streaming handlers send their
    headers (``prepare()``) long before they return.
    """
    server = f"Docker/{opts.server_version} (linux)"

    async def hook(request: web.Request, resp: web.StreamResponse) -> None:
        resp.headers["Server"] = server
        resp.headers.setdefault("Api-Version", opts.version)
        resp.headers.setdefault("Ostype", "linux")
        if opts.cors_header:
            resp.headers.update(cors_headers(opts.cors_header))

    return hook


def make_middlewares(opts: APIOptions) -> list[Callable[..., Awaitable[web.StreamResponse]]]:

    @web.middleware
    async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            resp = json_response({"message": "page not found"}, status=404)
        except web.HTTPException:
            raise
        except BerthdError as e:
            status = status_for(e)
            if status >= 500:
                log.error("Handler for %s %s returned error: %s", request.method, request.path, e)
            else:
                log.debug("Handler for %s %s returned error: %s", request.method, request.path, e)
            if status == 304:
                resp = web.Response(status=304)
            else:
                resp = json_response({"message": str(e)}, status=status)
        except ConnectionResetError as e:
            # the client went away mid-answer (the CLI closes a `docker cp` stream as
            # soon as it has the tar's end): nothing to answer, nothing to report
            log.debug("Client of %s %s went away: %s", request.method, request.path, e)
            raise
        except Exception as e:
            log.exception("Handler for %s %s failed", request.method, request.path)
            resp = json_response({"message": str(e) or type(e).__name__}, status=500)
        return resp

    @web.middleware
    async def version(request: web.Request, handler: Handler) -> web.StreamResponse:
        requested = request.match_info.get("version")
        if requested is None:
            request[API_VERSION_KEY] = opts.version
        else:
            if version_less(requested, opts.min_version):
                raise InvalidParameter(
                    f"client version {requested} is too old. Minimum supported API version "
                    f"is {opts.min_version}, please upgrade your client to a newer version"
                )
            if version_less(opts.version, requested):
                raise InvalidParameter(
                    f"client version {requested} is too new. Maximum supported API version "
                    f"is {opts.version}"
                )
            request[API_VERSION_KEY] = requested
        log.debug("Calling %s %s", request.method, request.path)
        return await handler(request)

    return [errors, version]
