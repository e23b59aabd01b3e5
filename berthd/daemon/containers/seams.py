"""What the code beside the container service uses of it, and of the image service.

``ContainerFSService`` (fs.py), commit, prune and the health prober take these
Protocols instead of ``ContainerService``/``ImageService``: they import this
module, never the services, so there is no import circle, and each states the
little it uses. ``ContainerService`` and ``ImageService`` satisfy them as they are.
"""

from __future__ import annotations

from typing import Protocol

from berthd.container import Container, ContainerStore
from berthd.daemon.containers.files import ContainerPaths
from berthd.daemon.events import EventsService
from berthd.image.reference import Reference
from berthd.image.store import ImageStore
from berthd.layer import LayerStore
from berthd.runtime.supervisor import Supervisor

__all__ = ["ContainerEvents", "ContainerOps", "ImageRegistrar", "ProbeHost"]


class ContainerEvents(Protocol):
    def log_event(self, c: Container, action: str, extra: dict[str, str] | None = None) -> None: ...


class ContainerOps(ContainerEvents, Protocol):
    """The store and the verbs that cp, commit, prune and the sizes use."""

    @property
    def store(self) -> ContainerStore: ...
    @property
    def layers(self) -> LayerStore: ...
    @property
    def events(self) -> EventsService: ...
    def get(self, ref: str) -> Container: ...
    async def pause(self, ref: str) -> None: ...
    async def unpause(self, ref: str) -> None: ...
    async def remove(self, ref: str, force: bool, volumes: bool) -> None: ...


class ProbeHost(ContainerEvents, Protocol):
    """What a health probe runs through: the bundle paths and the supervisor."""

    @property
    def paths(self) -> ContainerPaths: ...
    @property
    def supervisor(self) -> Supervisor: ...


class ImageRegistrar(Protocol):
    """What commit uses of the image service: its stores, and tagging."""

    @property
    def images(self) -> ImageStore: ...
    @property
    def layers(self) -> LayerStore: ...
    def tag(self, image_id: str, ref: Reference) -> None: ...
