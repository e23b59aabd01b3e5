"""System routes: ping, version, info, events, disk usage.

``handler → one backend call → response``; the backend is whatever object the
composition root passes in that satisfies ``SystemBackend``.
"""

from __future__ import annotations

from typing import Any, Protocol

import orjson
from aiohttp import web

from berthd.api.httputil import json_response
from berthd.api.routes import Route
from berthd.errdefs import InvalidParameter
from berthd.lib.filters import FilterArgs

__all__ = ["EventSubscription", "SystemBackend", "SystemRouter"]

# dockerd's accepted filters for /events.
EVENT_FILTERS = (
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
)

# How often an idle event stream checks that its client is still there.
_IDLE_CHECK_SECONDS = 1.0


class EventSubscription(Protocol):
    """Past events, then live ones until ``until`` or daemon shutdown."""

    def past(self) -> list[dict[str, Any]]: ...

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next live event; None if none came within ``timeout``."""

    @property
    def finished(self) -> bool:
        """True once no more events will come (until reached, or shut down)."""

    def close(self) -> None: ...


class SystemBackend(Protocol):
    def version(self) -> dict[str, Any]: ...

    async def info(self) -> dict[str, Any]: ...

    def ping_headers(self) -> dict[str, str]: ...

    def subscribe_events(
        self, since: float | None, until: float | None, filters: FilterArgs
    ) -> EventSubscription: ...

    async def system_df(self, types: list[str]) -> dict[str, Any]: ...


def parse_timestamp(name: str, value: str) -> float | None:
    """``since``/``until``: seconds since the epoch, optionally with a fraction."""
    if value == "":
        return None
    sec, _, frac = value.partition(".")
    if not sec.lstrip("-").isdigit() or (frac and not frac.isdigit()):
        raise InvalidParameter(f'invalid value for {name}: "{value}"')
    return float(f"{sec}.{frac or 0}")


class SystemRouter:
    def __init__(self, backend: SystemBackend) -> None:
        self.backend = backend

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/_ping", self.get_ping),
            Route("HEAD", "/_ping", self.head_ping),
            Route("GET", "/version", self.get_version),
            Route("GET", "/info", self.get_info),
            Route("GET", "/events", self.get_events),
            Route("GET", "/system/df", self.get_system_df),
        ]

    def _ping_headers(self) -> dict[str, str]:
        return {
            **self.backend.ping_headers(),
            "Cache-Control": "no-cache, no-store, must-revalidate",
            "Pragma": "no-cache",
        }

    async def get_ping(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            text="OK", content_type="text/plain", charset="utf-8", headers=self._ping_headers()
        )

    async def head_ping(self, request: web.Request) -> web.StreamResponse:
        headers = self._ping_headers()
        headers["Content-Type"] = "text/plain; charset=utf-8"
        headers["Content-Length"] = "0"
        return web.Response(headers=headers)

    async def get_version(self, request: web.Request) -> web.StreamResponse:
        return json_response(self.backend.version())

    async def get_info(self, request: web.Request) -> web.StreamResponse:
        return json_response(await self.backend.info())

    async def get_system_df(self, request: web.Request) -> web.StreamResponse:
        types = request.query.getall("type", [])
        allowed = ("container", "image", "volume", "build-cache")
        for t in types:
            if t not in allowed:
                raise InvalidParameter(f"unknown object type: {t}")
        return json_response(await self.backend.system_df(types))

    async def get_events(self, request: web.Request) -> web.StreamResponse:
        since = parse_timestamp("since", request.query.get("since", ""))
        until = parse_timestamp("until", request.query.get("until", ""))
        filters = FilterArgs.from_json(request.query.get("filters"))
        filters.validate(EVENT_FILTERS)
        sub = self.backend.subscribe_events(since, until, filters)
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        try:
            await resp.prepare(request)
            for ev in sub.past():
                await resp.write(orjson.dumps(ev) + b"\n")
            while not sub.finished:
                live = await sub.next(_IDLE_CHECK_SECONDS)
                if live is not None:
                    await resp.write(orjson.dumps(live) + b"\n")
                elif request.transport is None or request.transport.is_closing():
                    break
        except ConnectionError:
            pass  # the client went away
        finally:
            sub.close()
        return resp
