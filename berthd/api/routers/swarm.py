"""Swarm routes: /swarm, /nodes, /services, /tasks, /secrets, /configs.

Every route of Engine API v1.45's swarm group, parsed as dockerd's
``api/server/router/swarm`` parses it (body first, then the ``version`` and
flag query values), then one backend call. What a node outside a swarm
answers (503 ``This node is not part of a swarm`` / ``not a swarm manager``)
is the backend's business: today the daemon's inactive cluster, later a real
one behind the same ``SwarmBackend``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, Protocol

from aiohttp import web

from berthd.api import schemas
from berthd.api.decode import Struct
from berthd.api.hijack import MULTIPLEXED, RAW
from berthd.api.httputil import api_version, json_response, query_bool, read_json, version_less
from berthd.api.routes import Handler, Route
from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs
from berthd.lib.strconv import parse_bool, parse_uint64

__all__ = ["SwarmBackend", "SwarmObject", "SwarmRouter"]

# The object kinds of a swarm, as the API's path segments name them (singular).
SwarmObject = Literal["node", "service", "task", "secret", "config"]


class SwarmBackend(Protocol):
    """moby's cluster Backend, with the per-kind object verbs folded into one set."""

    def status(self) -> str:
        """The ``Swarm`` header of /_ping: ``inactive``, ``active/manager`` …"""

    def info(self) -> dict[str, Any]:
        """The ``Swarm`` section of /info."""

    async def init(self, req: dict[str, Any]) -> str: ...

    async def join(self, req: dict[str, Any]) -> None: ...

    async def leave(self, force: bool) -> None: ...

    async def inspect(self) -> dict[str, Any]: ...

    async def update(self, version: int, spec: dict[str, Any], rotate: Mapping[str, bool]) -> None:
        """``rotate``: rotateWorkerToken / rotateManagerToken / rotateManagerUnlockKey."""

    async def unlock(self, req: dict[str, Any]) -> None: ...

    async def unlock_key(self) -> str: ...

    async def list_objects(
        self, kind: SwarmObject, filters: FilterArgs, status: bool = False
    ) -> list[dict[str, Any]]: ...

    async def get_object(
        self, kind: SwarmObject, ref: str, insert_defaults: bool = False
    ) -> dict[str, Any]: ...

    async def create_object(
        self, kind: SwarmObject, spec: dict[str, Any], registry_auth: str = ""
    ) -> dict[str, Any]:
        """The create response: ``{"ID": …}`` (services add ``Warnings``)."""

    async def update_object(
        self,
        kind: SwarmObject,
        ref: str,
        version: int,
        spec: dict[str, Any],
        options: Mapping[str, str],
    ) -> dict[str, Any] | None:
        """``options``: registryAuth, registryAuthFrom, rollback (services only).
        Services answer ``{"Warnings": …}``; the others nothing."""

    async def remove_object(self, kind: SwarmObject, ref: str, force: bool = False) -> None: ...

    async def logs(
        self, kind: Literal["service", "task"], ref: str, options: Mapping[str, Any]
    ) -> tuple[bool, AsyncIterator[bytes]]:
        """(tty, frames) for a service's or task's logs."""


def _object_version(request: web.Request, what: str) -> int:
    raw = request.query.get("version", "")
    try:
        return parse_uint64(raw)
    except ValueError as e:
        if what in ("secret", "config"):
            raise InvalidParameter(f"invalid {what} version") from None
        raise InvalidParameter(f"invalid {what} version '{raw}': {e}") from None


def _flag(request: web.Request, name: str, wrapped: bool = False) -> bool:
    """A ParseBool query value; empty or absent is false."""
    value = request.query.get(name, "")
    if not value:
        return False
    try:
        return parse_bool(value)
    except ValueError as e:
        if wrapped:  # errors.Wrapf(InvalidParameter(err), "invalid value for …: %s", v)
            raise InvalidParameter(f"invalid value for {name}: {value}: {e}") from None
        raise InvalidParameter(f"invalid value for {name}: {value}") from None


async def _body(request: web.Request, schema: Struct) -> dict[str, Any]:
    """moby's ReadJSON: an empty body is the zero value, not an error. The swarm
    schemas declare only some fields, so nothing is pruned."""
    body = await read_json(request, required=False, schema=schema, prune=False)
    return body if isinstance(body, dict) else {}


def _filters(request: web.Request) -> FilterArgs:
    return FilterArgs.from_json(request.query.get("filters"))


_SPECS: dict[SwarmObject, Struct] = {
    "node": schemas.SWARM_NODE_SPEC,
    "service": schemas.SWARM_SERVICE_SPEC,
    "secret": schemas.SWARM_SECRET_SPEC,
    "config": schemas.SWARM_CONFIG_SPEC,
}


class SwarmRouter:
    def __init__(self, backend: SwarmBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        b = self
        out = [
            Route("GET", "/swarm", b.get_swarm),
            Route("GET", "/swarm/unlockkey", b.get_unlock_key),
            Route("POST", "/swarm/init", b.post_init),
            Route("POST", "/swarm/join", b.post_join),
            Route("POST", "/swarm/leave", b.post_leave),
            Route("POST", "/swarm/update", b.post_update),
            Route("POST", "/swarm/unlock", b.post_unlock),
            Route("GET", "/services/{id}/logs", b.logs_handler("service")),
            Route("GET", "/tasks/{id}/logs", b.logs_handler("task")),
        ]
        kinds: tuple[SwarmObject, ...] = ("node", "service", "task", "secret", "config")
        for kind in kinds:
            base = f"/{kind}s"
            out += [
                Route("GET", base, b.list_handler(kind)),
                Route("GET", base + "/{id}", b.get_handler(kind)),
            ]
            if kind == "task":
                continue
            if kind != "node":
                out.append(Route("POST", base + "/create", b.create_handler(kind)))
            out += [
                Route("POST", base + "/{id}/update", b.update_handler(kind)),
                Route("DELETE", base + "/{id}", b.remove_handler(kind)),
            ]
        return out

    # -- the swarm itself -------------------------------------------------------------
    async def get_swarm(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.backend.inspect())

    async def get_unlock_key(self, request: web.Request) -> web.StreamResponse:
        return json_response({"UnlockKey": await self.backend.unlock_key()})

    async def post_init(self, request: web.Request) -> web.StreamResponse:
        req = await _body(request, schemas.SWARM_INIT)
        version = api_version(request)
        if version_less(version, "1.39"):  # DefaultAddrPool, SubnetSize came in 1.39
            req.pop("DefaultAddrPool", None)
            req.pop("SubnetSize", None)
        if version_less(version, "1.40"):  # DataPathPort in 1.40
            req.pop("DataPathPort", None)
        return json_response(await self.backend.init(req))

    async def post_join(self, request: web.Request) -> web.StreamResponse:
        await self.backend.join(await _body(request, schemas.SWARM_JOIN))
        return web.Response(status=200)

    async def post_leave(self, request: web.Request) -> web.StreamResponse:
        await self.backend.leave(query_bool(request, "force"))
        return web.Response(status=200)

    async def post_update(self, request: web.Request) -> web.StreamResponse:
        spec = await _body(request, schemas.SWARM_SPEC)
        version = _object_version(request, "swarm")
        rotate = {
            name: _flag(request, name)
            for name in ("rotateWorkerToken", "rotateManagerToken", "rotateManagerUnlockKey")
        }
        await self.backend.update(version, spec, rotate)
        return web.Response(status=200)

    async def post_unlock(self, request: web.Request) -> web.StreamResponse:
        await self.backend.unlock(await _body(request, schemas.SWARM_UNLOCK))
        return web.Response(status=200)

    # -- nodes, services, tasks, secrets, configs ---------------------------------------
    def list_handler(self, kind: SwarmObject) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            filters = _filters(request)
            status = False
            if kind == "service" and not version_less(api_version(request), "1.41"):
                status = _flag(request, "status", wrapped=True)
            return json_response(await self.backend.list_objects(kind, filters, status))

        return handler

    def get_handler(self, kind: SwarmObject) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            defaults = (
                _flag(request, "insertDefaults", wrapped=True) if kind == "service" else False
            )
            return json_response(
                await self.backend.get_object(kind, request.match_info["id"], defaults)
            )

        return handler

    def create_handler(self, kind: SwarmObject) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            spec = await _body(request, _SPECS[kind])
            _check_spec(kind, spec, api_version(request))
            auth = request.headers.get("X-Registry-Auth", "")
            return json_response(await self.backend.create_object(kind, spec, auth), status=201)

        return handler

    def update_handler(self, kind: SwarmObject) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            spec = await _body(request, _SPECS[kind])
            if kind == "service":
                _check_spec(kind, spec, api_version(request))
            version = _object_version(request, kind)
            options = {
                "registryAuth": request.headers.get("X-Registry-Auth", ""),
                "registryAuthFrom": request.query.get("registryAuthFrom", ""),
                "rollback": request.query.get("rollback", ""),
            }
            out = await self.backend.update_object(
                kind, request.match_info["id"], version, spec, options
            )
            return json_response(out) if out is not None else web.Response(status=200)

        return handler

    def remove_handler(self, kind: SwarmObject) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            force = query_bool(request, "force") if kind == "node" else False
            await self.backend.remove_object(kind, request.match_info["id"], force)
            return web.Response(status=204 if kind in ("secret", "config") else 200)

        return handler

    def logs_handler(self, kind: Literal["service", "task"]) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            stdout, stderr = query_bool(request, "stdout"), query_bool(request, "stderr")
            if not (stdout or stderr):
                raise InvalidParameter("Bad parameters: you must choose at least one stream")
            q = request.query
            options = {
                "follow": query_bool(request, "follow"),
                "timestamps": query_bool(request, "timestamps"),
                "details": query_bool(request, "details"),
                "since": q.get("since", ""),
                "tail": q.get("tail", ""),
                "stdout": stdout,
                "stderr": stderr,
            }
            tty, frames = await self.backend.logs(kind, request.match_info["id"], options)
            multiplexed = not tty and not version_less(api_version(request), "1.42")
            resp = web.StreamResponse(headers={"Content-Type": MULTIPLEXED if multiplexed else RAW})
            await resp.prepare(request)
            try:
                async for chunk in frames:
                    await resp.write(chunk)
            except ConnectionError:
                pass  # the client went away
            return resp

        return handler


def _check_spec(kind: SwarmObject, spec: dict[str, Any], version: str) -> None:
    """The router's own refusals, before the backend sees a spec."""
    if kind == "service":
        driver = (spec.get("TaskTemplate") or {}).get("LogDriver") or {}
        if driver.get("Name") == "logentries":
            raise InvalidParameter("the logentries logging driver has been deprecated and removed")
    elif (
        kind in ("secret", "config")
        and spec.get("Templating") is not None
        and version_less(version, "1.37")
    ):
        raise InvalidParameter(
            f"{kind} templating is not supported on the specified API version: {version}"
        )
