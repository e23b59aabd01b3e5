"""Route declarations shared by the routers.

Every route is served both unversioned and under a ``/vX.Y`` prefix, as
dockerd's router does; the version middleware reads the prefix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

__all__ = ["VERSION_PREFIX", "Route", "register"]

VERSION_PREFIX = r"/v{version:[0-9]+(?:\.[0-9]+)*}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler


def register(app: web.Application, routes: list[Route]) -> None:
    for r in routes:
        for path in (r.path, VERSION_PREFIX + r.path):
            if r.method == "GET":
                app.router.add_get(path, r.handler, allow_head=False)
            else:
                app.router.add_route(r.method, path, r.handler)
