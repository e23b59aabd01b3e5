"""Small helpers shared by the routers: JSON bodies, query values, streams."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from berthd.api.decode import Schema, check, decode_json
from berthd.errdefs import InvalidParameter

__all__ = [
    "API_VERSION_KEY",
    "api_version",
    "json_response",
    "query_bool",
    "query_int",
    "read_json",
    "version_less",
]

# The request's API version, set by the version middleware.
API_VERSION_KEY = web.RequestKey("api_version", str)

# dockerd's httputils.BoolValue: these spellings (any case) are false.
_FALSE = {"", "0", "no", "false", "none"}


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data) + b"\n", status=status, content_type="application/json"
    )


def query_bool(request: web.Request, name: str, default: bool = False) -> bool:
    if name not in request.query:
        return default
    return request.query[name].strip().lower() not in _FALSE


def query_int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidParameter(f'strconv.Atoi: parsing "{raw}": invalid syntax') from None


async def read_json(
    request: web.Request, required: bool = True, schema: Schema | None = None, prune: bool = True
) -> Any:
    """Decode a JSON request body with dockerd's errors for a bad one; with a
    ``schema``, a value of the wrong type is refused as Go's decoder does and (with
    ``prune``, for schemas that declare every field of the Go type) what Go would
    not keep is dropped."""
    body = await request.read()
    if not body.strip():
        if required:
            raise InvalidParameter("invalid JSON: got EOF while reading request body")
        return None
    ctype = request.content_type
    if ctype and ctype != "application/json" and ctype != "application/octet-stream":
        raise InvalidParameter(
            f"unsupported Content-Type header ({ctype}): must be 'application/json'"
        )
    value = decode_json(body)
    if schema is not None:
        check(value, schema, prune=prune)
    return value


def api_version(request: web.Request) -> str:
    """The API version of this request (set by the version middleware)."""
    return request[API_VERSION_KEY]


def _parts(v: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in v.split("."))


def version_less(a: str, b: str) -> bool:
    return _parts(a) < _parts(b)
