"""build_app(): the aiohttp application from backends and options.

The composition root (``berthd.daemon.assemble``) builds the backends; the
CLI builds the app from them and serves it on every listener. Tests build it
with fakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from berthd.api.middleware import APIOptions, cors_headers, make_header_hook, make_middlewares
from berthd.api.routers.build import BuildBackend, BuildRouter
from berthd.api.routers.container import ContainersBackend, ContainersRouter
from berthd.api.routers.container_fs import ContainerFSBackend, ContainerFSRouter
from berthd.api.routers.distribution import DistributionBackend, DistributionRouter
from berthd.api.routers.image import ImageRouter, ImagesBackend
from berthd.api.routers.network import NetworkBackend, NetworkRouter
from berthd.api.routers.registry import RegistryBackend, RegistryRouter
from berthd.api.routers.swarm import SwarmBackend, SwarmRouter
from berthd.api.routers.system import SystemBackend, SystemRouter
from berthd.api.routers.volume import VolumeBackend, VolumeRouter
from berthd.api.routes import register

__all__ = ["APIOptions", "Backends", "build_app"]


@dataclass(frozen=True)
class Backends:
    """One backend per API group; each router holds only its own."""

    system: SystemBackend
    containers: ContainersBackend | None = None
    images: ImagesBackend | None = None
    volumes: VolumeBackend | None = None
    networks: NetworkBackend | None = None
    container_fs: ContainerFSBackend | None = None
    build: BuildBackend | None = None
    distribution: DistributionBackend | None = None
    registry: RegistryBackend | None = None
    swarm: SwarmBackend | None = None


def build_app(backends: Backends, opts: APIOptions) -> web.Application:
    # client_max_size: image loads and archive uploads stream, but JSON bodies
    # are read whole; dockerd does not cap them either, so be generous.
    app = web.Application(middlewares=make_middlewares(opts), client_max_size=64 * 1024 * 1024)
    app.on_response_prepare.append(make_header_hook(opts))
    register(app, SystemRouter(backends.system).routes())
    if backends.container_fs is not None:
        # before the container routes: /containers/prune must not be taken for a name
        register(app, ContainerFSRouter(backends.container_fs).routes())
    if backends.containers is not None:
        register(app, ContainersRouter(backends.containers).routes())
    if backends.registry is not None:
        # before the image routes: /images/search must not be taken for an image name
        register(app, RegistryRouter(backends.registry).routes())
    if backends.images is not None:
        register(app, ImageRouter(backends.images).routes())
    if backends.build is not None:
        register(app, BuildRouter(backends.build).routes())
    if backends.distribution is not None:
        register(app, DistributionRouter(backends.distribution).routes())
    if backends.volumes is not None:
        register(app, VolumeRouter(backends.volumes).routes())
    if backends.networks is not None:
        register(app, NetworkRouter(backends.networks).routes())
    if backends.swarm is not None:
        register(app, SwarmRouter(backends.swarm).routes())
    if opts.cors_header:

        async def options(request: web.Request) -> web.StreamResponse:
            return web.Response(headers=cors_headers(opts.cors_header))

        app.router.add_route("OPTIONS", "/{tail:.*}", options)
    return app
